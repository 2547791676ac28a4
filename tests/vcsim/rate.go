package main

// A per-stream bandwidth limit for NFC transfers, so benchmarks can model a real host: on
// ESXi each NFC connection is bounded by the host's NFC service (tens of MiB/s), not by the
// network or the disk, which is why ovftool and govc are slow and why odt runs several
// transfers at once. Each upload (POST/PUT /nfc/...) and each export download (GET
// /nfc-export/...) is paced on its own to -nfc-stream-mibps MiB/s (0 = unlimited), settable at
// run time with POST /odt-test/nfc-rate?mibps=N. Pacing sleeps the stream so that its bytes
// never run ahead of rate x elapsed time; streams do not share a budget.

import (
	"io"
	"sync/atomic"
	"time"
)

// streamRate is the limit in bytes per second (0: none), read by every new stream.
var streamRate int64

func setStreamRateMiB(mibps int64) { atomic.StoreInt64(&streamRate, mibps<<20) }

// pacer holds one stream to its rate.
type pacer struct {
	rate  int64 // bytes per second, fixed when the stream starts
	start time.Time
	n     int64
}

func newPacer() *pacer {
	return &pacer{rate: atomic.LoadInt64(&streamRate), start: time.Now()}
}

// wait sleeps until n more bytes are within the rate.
func (p *pacer) wait(n int) {
	if p.rate <= 0 || n <= 0 {
		return
	}
	p.n += int64(n)
	due := p.start.Add(time.Duration(float64(p.n) / float64(p.rate) * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		time.Sleep(d)
	}
}

// pacedReader paces what is read through it (an upload body).
type pacedReader struct {
	r io.Reader
	p *pacer
}

func (pr *pacedReader) Read(b []byte) (int, error) {
	if len(b) > 1<<20 {
		b = b[:1<<20] // small steps keep the pace smooth
	}
	n, err := pr.r.Read(b)
	pr.p.wait(n)
	return n, err
}

// pacedWriter paces what is written through it (a download body).
type pacedWriter struct {
	w io.Writer
	p *pacer
}

func (pw *pacedWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		chunk := b
		if len(chunk) > 1<<20 {
			chunk = chunk[:1<<20]
		}
		n, err := pw.w.Write(chunk)
		written += n
		pw.p.wait(n)
		if err != nil {
			return written, err
		}
		b = b[n:]
	}
	return written, nil
}
