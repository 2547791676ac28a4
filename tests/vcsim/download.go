package main

// Export downloads (GET /nfc-export/<lease>/<file>): the record of each one in index.json
// "downloads", and injected failures (POST /odt-test/fail-next-download).

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"
)

// countingWriter counts the body bytes written through it and remembers the status. It
// passes ReadFrom through so http.ServeContent keeps using sendfile on plain TCP.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (c *countingWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) ReadFrom(src io.Reader) (int64, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := c.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(struct{ io.Writer }{c.ResponseWriter}, src)
	}
	c.n += n
	return n, err
}

// beginDownload records a download as started (index order is start order) and consumes
// the pending download fault it is subject to, if any: a fault with skip > 0 lets this GET
// through and counts it. Returns the record's position for endDownload.
func (e *extension) beginDownload(d downloadRecord) (int, *downloadFault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d.InProgress = true
	e.downloads = append(e.downloads, d)
	i := len(e.downloads) - 1
	if err := e.writeIndexLocked(); err != nil {
		log.Printf("writing index.json: %v", err)
	}
	if len(e.dlFaults) == 0 {
		return i, nil
	}
	if e.dlFaults[0].skip > 0 {
		e.dlFaults[0].skip--
		return i, nil
	}
	f := e.dlFaults[0]
	e.dlFaults = e.dlFaults[1:]
	return i, &f
}

// endDownload replaces record i with its outcome.
func (e *extension) endDownload(i int, d downloadRecord) {
	d.InProgress, d.Time = false, now()
	e.mu.Lock()
	e.downloads[i] = d
	if err := e.writeIndexLocked(); err != nil {
		log.Printf("writing index.json: %v", err)
	}
	e.mu.Unlock()
}

// serveDownload sends fh (the datastore file of export lease `lease`'s file `name`) for a
// GET, or fails as an injected fault says, and records the attempt.
func (e *extension) serveDownload(w http.ResponseWriter, r *http.Request, lease, vm, name string, fh *os.File) {
	rec := downloadRecord{Lease: lease, VM: vm, File: name, Range: r.Header.Get("Range"), Started: now()}
	if st, err := fh.Stat(); err == nil {
		rec.Size = st.Size()
	}
	slot, flt := e.beginDownload(rec)
	if flt != nil {
		rec.Range = "" // a fault ignores Range: it answers as to a plain GET
		if flt.status != 0 {
			rec.Status = flt.status
			rec.Error = fmt.Sprintf("injected failure: status %d", flt.status)
			log.Printf("nfc-export GET %s/%s: %s", vm, name, rec.Error)
			e.endDownload(slot, rec)
			w.Header().Set("Connection", "close")
			http.Error(w, "odt-vcsim: injected failure", flt.status)
			return
		}
		after := flt.after
		if after > rec.Size {
			after = rec.Size
		}
		w.Header().Set("Content-Type", "application/x-vnd.vmware-streamVmdk")
		w.Header().Set("Content-Length", strconv.FormatInt(rec.Size, 10))
		w.WriteHeader(http.StatusOK)
		n, _ := io.CopyN(w, fh, after)
		rec.Bytes = n
		rec.Error = fmt.Sprintf("injected failure: connection dropped after %d of %d bytes", n, rec.Size)
		log.Printf("nfc-export GET %s/%s: %s", vm, name, rec.Error)
		e.endDownload(slot, rec)
		// Flush what the handler buffered, then close the connection under the client.
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		if hj, ok := w.(http.Hijacker); ok {
			if conn, buf, err := hj.Hijack(); err == nil {
				_ = buf.Flush()
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // net/http closes the connection
	}
	cw := &countingWriter{ResponseWriter: w}
	cw.Header().Set("Content-Type", "application/x-vnd.vmware-streamVmdk")
	if rec.Range == "" {
		// A whole-file GET: like ESXi, checksum the bytes as they stream, so that
		// HttpNfcLeaseGetManifest afterwards answers from them instead of re-reading the disk.
		h1, h256 := sha1.New(), sha256.New()
		cw.Header().Set("Content-Length", strconv.FormatInt(rec.Size, 10))
		cw.WriteHeader(http.StatusOK)
		n, _ := io.Copy(&pacedWriter{w: io.MultiWriter(cw, h1, h256), p: newPacer()}, fh)
		if n == rec.Size {
			e.exports.storeDigests(lease, name, n, hex.EncodeToString(h1.Sum(nil)), hex.EncodeToString(h256.Sum(nil)))
		}
	} else {
		http.ServeContent(cw, r, "", time.Time{}, fh)
	}
	rec.Status, rec.Bytes = cw.status, cw.n
	if rec.Status == 0 {
		rec.Status = http.StatusOK
	}
	if want, err := strconv.ParseInt(cw.Header().Get("Content-Length"), 10, 64); err == nil && rec.Status < 300 && cw.n < want {
		rec.Error = fmt.Sprintf("client went away after %d of %d bytes", cw.n, want)
	}
	log.Printf("nfc-export GET %s/%s: status %d, %d bytes", vm, name, rec.Status, rec.Bytes)
	e.endDownload(slot, rec)
}
