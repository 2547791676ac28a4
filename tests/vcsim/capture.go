package main

// NFC upload capture, lease bookkeeping, the capture index, and fault injection.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"hash"
	"io"
	"io/ioutil"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// leaseRecord is one NFC lease as seen through the SOAP API (index.json "leases").
type leaseRecord struct {
	Lease         string `json:"lease"`
	Kind          string `json:"kind"`                  // "import" or "export"
	VM            string `json:"vm"`                    // the entity's name (a VM, or a vApp)
	VMMoref       string `json:"vm_moref"`              // the entity's moref value
	EntityType    string `json:"entity_type,omitempty"` // "VirtualApp" for a vApp import (else a VM)
	State         string `json:"state"`                 // "ready", "done" (complete), "aborted"
	ProgressCalls int    `json:"progress_calls"`
	LastProgress  int32  `json:"last_progress"`
	Created       string `json:"created"`
	Finished      string `json:"finished,omitempty"`
	AbortFault    string `json:"abort_fault,omitempty"`
	// Children are the VMs of a vApp import, in import order.
	Children []leaseChild `json:"children,omitempty"`

	// files maps an NFC file name (the URL's last element) to its datastore file.
	files map[string]string
}

// leaseChild is one VM of a vApp import lease.
type leaseChild struct {
	VM       string   `json:"vm"`
	VMMoref  string   `json:"vm_moref"`
	VApp     string   `json:"vapp"`      // the vApp directly holding it (nested vApps)
	NFCLease string   `json:"nfc_lease"` // the lease id its deviceUrls name
	Files    []string `json:"files"`     // NFC file names
}

// uploadRecord is one NFC upload attempt (index.json "uploads").
type uploadRecord struct {
	Lease         string `json:"lease"`               // the lease ImportVApp/ExportVm returned
	NFCLease      string `json:"nfc_lease,omitempty"` // the URL's lease id, when it differs (vApp children)
	VApp          string `json:"vapp,omitempty"`      // the vApp of the VM, for vApp imports
	VM            string `json:"vm"`
	VMMoref       string `json:"vm_moref"`
	File          string `json:"file"`
	Method        string `json:"method"`
	ContentType   string `json:"content_type"`
	ContentLength int64  `json:"content_length"`
	Bytes         int64  `json:"bytes"`
	Sha256        string `json:"sha256"`
	Status        int    `json:"status"`          // HTTP status sent; 0 = connection dropped
	Path          string `json:"path,omitempty"`  // capture file relative to DIR (status 200 only)
	Error         string `json:"error,omitempty"` // why it failed
	Time          string `json:"time"`
}

type fault struct {
	after  int64 // bytes to accept before failing
	status int   // 0: drop the connection; else answer with this status
}

// downloadRecord is one GET of an export lease's file (index.json "downloads", in the order
// they started).
type downloadRecord struct {
	Lease   string `json:"lease"`
	VM      string `json:"vm"`
	File    string `json:"file"`            // the URL's last element (the deviceUrl's targetId)
	Range   string `json:"range,omitempty"` // the Range header, when sent
	Size    int64  `json:"size"`            // the file's size
	Bytes   int64  `json:"bytes"`           // body bytes sent
	Status  int    `json:"status"`          // HTTP status sent; 0 = connection dropped
	Error   string `json:"error,omitempty"` // why it failed
	Started string `json:"started"`
	Time    string `json:"time,omitempty"` // when it ended
	// InProgress: still being served (status and bytes are not final yet).
	InProgress bool `json:"in_progress,omitempty"`
}

// downloadFault is one injected failure of a GET on /nfc-export/ (see download.go).
type downloadFault struct {
	skip   int64 // downloads to let through before this one fires
	after  int64 // body bytes to send before dropping the connection
	status int   // 0: drop the connection; else answer with this status (no body)
}

type extension struct {
	svc     *simulator.Service
	dir     string
	mu      sync.Mutex // guards everything below and index.json
	leases  map[string]*leaseRecord
	order   []string // lease ids in creation order
	uploads []uploadRecord
	faults  []fault
	// downloads and dlFaults: GETs on /nfc-export/ and their injected failures (download.go).
	downloads []downloadRecord
	dlFaults  []downloadFault
	wrapMu    sync.Mutex // serialises ExportVm (VM wrapping)
	exports   *exportState
	hosts     map[string]bool      // hosts whose /sdk and /nfc/ are hooked
	aliases   map[string]*nfcAlias // vApp child VM lease id -> what it belongs to (vapp.go)
}

func newExtension(svc *simulator.Service, dir string, failAfter int64) (*extension, error) {
	e := &extension{svc: svc, dir: dir, leases: map[string]*leaseRecord{}, exports: newExportState()}
	if failAfter >= 0 {
		e.faults = append(e.faults, fault{after: failAfter})
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.writeIndexLocked(); err != nil {
		return nil, fmt.Errorf("writing %s: %v", filepath.Join(dir, "index.json"), err)
	}
	return e, nil
}

// register installs the hooks on mux before vcsim's NewServer adds its own generic
// patterns ("/sdk", "/nfc/"): host-specific patterns take precedence in http.ServeMux.
func (e *extension) register(mux *http.ServeMux, listenHost string) {
	for _, h := range []string{"127.0.0.1", "localhost", listenHost} {
		e.addHost(mux, h)
	}
	mux.HandleFunc("/nfc-export/", e.serveExport)
	mux.HandleFunc("/odt-test/", e.serveTest)
}

// addHost hooks /sdk and /nfc/ for requests addressed to host (ServeMux matches the Host
// header without its port). Safe to call once the server runs.
func (e *extension) addHost(mux *http.ServeMux, host string) {
	host = strings.Trim(host, "[]")
	if host == "" || host == "0.0.0.0" || host == "::" || e.hosts[host] {
		return
	}
	if e.hosts == nil {
		e.hosts = map[string]bool{}
	}
	e.hosts[host] = true
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	mux.HandleFunc(host+"/nfc/", e.serveNFC)
	mux.HandleFunc(host+"/sdk", e.serveSDK)
	mux.HandleFunc(host+"/sdk/vimService", e.serveSDK)
}

// install replaces model objects once the model exists (see export.go).
func (e *extension) install() {
	installOvfManager(e)
	installNetworkSystems()
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// ---------------------------------------------------------------- SOAP hook

// statusRecorder passes a response through while remembering its status and body.
type statusRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	s.body.Write(b)
	return s.ResponseWriter.Write(b)
}

var interesting = regexp.MustCompile(`ImportVApp|ExportVm|HttpNfcLease(Complete|Abort|Progress)|(Add|Remove)PortGroup|Destroy_Task|RelocateVM_Task`)

// serveSDK passes every SOAP call to vcsim, but first rewrites or wraps the few calls the
// extension implements itself (prepareCall), then books what the successful ones did
// (recordCall). Calls the `interesting` pattern does not name go to vcsim untouched.
func (e *extension) serveSDK(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		e.svc.ServeSDK(w, r)
		return
	}
	body, err := ioutil.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.Body = ioutil.NopCloser(bytes.NewReader(body))
	if !interesting.Match(body) {
		e.svc.ServeSDK(w, r)
		return
	}
	method, err := simulator.UnmarshalBody(types.TypeFunc(), body)
	if err != nil {
		e.svc.ServeSDK(w, r) // vcsim reports the error
		return
	}
	done := e.prepareCall(method, body, r)
	defer done()
	rec := &statusRecorder{ResponseWriter: w}
	e.svc.ServeSDK(rec, r)
	if rec.status != http.StatusOK {
		return
	}
	e.recordCall(method, r, rec.body.Bytes())
}

// prepareCall readies r for vcsim: ExportVm runs with its VM wrapped (export.go), port group
// calls with the host's network system wrapped (network.go), and pool moves, vApp imports
// and vApp destroys are redirected to helpers (relocate.go, vapp.go). It returns what to undo
// once the call and its bookkeeping are over.
func (e *extension) prepareCall(method *simulator.Method, body []byte, r *http.Request) (done func()) {
	switch method.Name {
	case "ExportVm":
		e.wrapMu.Lock()
		defer func() {
			if done == nil { // wrapVM panicked: do not keep the lock
				e.wrapMu.Unlock()
			}
		}()
		unwrap := wrapVM(e, method.This)
		return func() {
			unwrap()
			e.wrapMu.Unlock()
		}
	case "AddPortGroup", "RemovePortGroup":
		wrapNetworkSystem(method.This) // hosts added after start (install wrapped the others)
	case "RelocateVM_Task":
		// A move into another resource pool goes to a helper (relocate.go).
		if req, ok := method.Body.(*types.RelocateVM_Task); ok && isPoolMove(req) {
			replaceBody(r, method.Name, redirectVMThis(body, method.This))
		}
	case "ImportVApp", "Destroy_Task":
		// vApp import and destroy go to a helper (vapp.go).
		if isVAppCall(method) {
			replaceBody(r, method.Name, redirectThis(body, method.This))
		}
	}
	return func() {}
}

// isVAppCall tells an ImportVApp of a VirtualAppImportSpec, or a Destroy_Task of a
// VirtualApp, from the calls vcsim handles itself.
func isVAppCall(method *simulator.Method) bool {
	if req, ok := method.Body.(*types.ImportVApp); ok {
		_, vapp := req.Spec.(*types.VirtualAppImportSpec)
		return vapp
	}
	return method.This.Type == "VirtualApp"
}

// replaceBody makes nb (the request with `_this` redirected) r's body; when the redirection
// found no `_this` (nb nil), vcsim gets the call as sent.
func replaceBody(r *http.Request, name string, nb []byte) {
	if nb == nil {
		log.Printf("%s: cannot find _this in the request; left to vcsim", name)
		return
	}
	r.Body = ioutil.NopCloser(bytes.NewReader(nb))
	r.ContentLength = int64(len(nb))
}

// recordCall books a call vcsim answered with 200 in the lease records (index.json).
func (e *extension) recordCall(method *simulator.Method, r *http.Request, resp []byte) {
	switch method.Name {
	case "ImportVApp":
		e.recordImport(r, resp)
	case "HttpNfcLeaseComplete":
		e.leaseFinished(method.This.Value, "done", "")
	case "HttpNfcLeaseAbort":
		e.leaseFinished(method.This.Value, "aborted", abortMessage(method))
	case "HttpNfcLeaseProgress":
		if req, ok := method.Body.(*types.HttpNfcLeaseProgress); ok {
			e.leaseProgress(method.This.Value, req.Percent)
		}
	}
}

// abortMessage is what an HttpNfcLeaseAbort says about why (index.json "abort_fault"): the
// fault's message, else its type name, else "".
func abortMessage(method *simulator.Method) string {
	req, ok := method.Body.(*types.HttpNfcLeaseAbort)
	if !ok || req.Fault == nil {
		return ""
	}
	msg := req.Fault.LocalizedMessage
	if msg == "" && req.Fault.Fault != nil {
		msg = fmt.Sprintf("%T", req.Fault.Fault)
		msg = strings.TrimPrefix(msg, "*types.")
	}
	return msg
}

// leaseProgress counts an HttpNfcLeaseProgress call and keeps its percentage.
func (e *extension) leaseProgress(lease string, percent int32) {
	e.mu.Lock()
	if l := e.leases[lease]; l != nil {
		l.ProgressCalls++
		l.LastProgress = percent
		_ = e.writeIndexLocked()
	}
	e.mu.Unlock()
}

var (
	returnvalRe = regexp.MustCompile(`<returnval type="HttpNfcLease">([^<]+)</returnval>`)
	entityRe    = regexp.MustCompile(`<entity type="VirtualMachine">([^<]+)</entity>`)
)

// recordImport notes the lease an ImportVApp created, its VM and the VM's files.
func (e *extension) recordImport(r *http.Request, resp []byte) {
	m := returnvalRe.FindSubmatch(resp)
	if m == nil {
		log.Printf("ImportVApp: no lease in the response")
		return
	}
	lease := xmlUnescape(string(m[1]))
	e.mu.Lock()
	_, known := e.leases[lease] // a vApp import records itself (vapp.go)
	e.mu.Unlock()
	if known {
		return
	}
	vmRef, err := e.leaseEntity(r, lease)
	if err != nil {
		log.Printf("ImportVApp: lease %s: %v", lease, err)
	}
	rec := &leaseRecord{Lease: lease, Kind: "import", State: "ready", Created: now(), files: map[string]string{}}
	if vm, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: vmRef}).(*simulator.VirtualMachine); ok {
		simulator.Map.WithLock(vm, func() {
			rec.VM, rec.VMMoref = vm.Name, vm.Self.Value
			rec.files = vmFiles(vm)
		})
	}
	e.mu.Lock()
	e.leases[lease] = rec
	e.order = append(e.order, lease)
	_ = e.writeIndexLocked()
	e.mu.Unlock()
	log.Printf("import lease %s for %s (%s): files %v", lease, rec.VM, rec.VMMoref, keys(rec.files))
}

// leaseEntity asks vcsim itself (in process, with the caller's session cookie) for the
// lease's info.entity: the lease lives in the session's private registry.
func (e *extension) leaseEntity(orig *http.Request, lease string) (string, error) {
	body := `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this>
<specSet><propSet><type>HttpNfcLease</type><pathSet>info</pathSet></propSet>
<objectSet><obj type="HttpNfcLease">` + xmlEscape(lease) + `</obj></objectSet></specSet><options></options>
</RetrievePropertiesEx></soapenv:Body></soapenv:Envelope>`
	req := httptest.NewRequest(http.MethodPost, orig.URL.Path, strings.NewReader(body))
	for _, c := range orig.Cookies() {
		req.AddCookie(c)
	}
	rr := httptest.NewRecorder()
	e.svc.ServeSDK(rr, req)
	if rr.Code != http.StatusOK {
		return "", fmt.Errorf("RetrievePropertiesEx: HTTP %d", rr.Code)
	}
	m := entityRe.FindSubmatch(rr.Body.Bytes())
	if m == nil {
		return "", fmt.Errorf("RetrievePropertiesEx: no info.entity")
	}
	return xmlUnescape(string(m[1])), nil
}

// vmFiles maps the base name of each file-backed device of vm to its datastore file.
func vmFiles(vm *simulator.VirtualMachine) map[string]string {
	files := map[string]string{}
	if vm.Config == nil {
		return files
	}
	for _, d := range vm.Config.Hardware.Device {
		info, ok := d.GetVirtualDevice().Backing.(types.BaseVirtualDeviceFileBackingInfo)
		if !ok {
			continue
		}
		if p := datastoreFile(vm, info.GetVirtualDeviceFileBackingInfo().FileName); p != "" {
			files[path.Base(p)] = p
		}
	}
	return files
}

// datastoreFile resolves "[ds] dir/file" against vm's datastores to a local path.
func datastoreFile(vm *simulator.VirtualMachine, name string) string {
	var p object.DatastorePath
	if !p.FromString(name) {
		return ""
	}
	for _, ref := range vm.Datastore {
		ds, ok := simulator.Map.Get(ref).(*simulator.Datastore)
		if ok && ds.Name == p.Datastore {
			return filepath.Join(ds.Info.GetDatastoreInfo().Url, p.Path)
		}
	}
	return ""
}

func (e *extension) leaseFinished(lease, state, msg string) {
	e.mu.Lock()
	if l := e.leases[lease]; l != nil {
		l.State, l.Finished, l.AbortFault = state, now(), msg
		_ = e.writeIndexLocked()
	}
	e.mu.Unlock()
	e.exports.forget(lease)
}

// ---------------------------------------------------------------- NFC capture

// holdStatus swallows the status ServeNFC writes (it writes no body) so the final status
// can be sent after the datastore copy.
type holdStatus struct {
	http.ResponseWriter
	status int
}

func (h *holdStatus) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}

func (h *holdStatus) Write(b []byte) (int, error) { return len(b), nil }

type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// serveNFC captures an NFC upload (POST/PUT /nfc/<lease>/<file>) while vcsim's own ServeNFC
// validates it, or fails it as a pending injected fault says; either way the attempt is
// recorded in index.json "uploads". Other methods (GET) go to vcsim untouched.
func (e *extension) serveNFC(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		simulator.ServeNFC(w, r)
		return
	}
	parts := strings.Split(r.URL.Path, "/")
	if len(parts) < 4 {
		http.NotFound(w, r)
		return
	}
	u, flt := e.startUpload(r, parts[len(parts)-2], parts[len(parts)-1])
	if err := u.openCapture(); err != nil {
		u.fail(http.StatusInternalServerError, "capture: %v", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer os.Remove(u.tmp.Name()) // a no-op once renamed
	if flt != nil {
		u.injectFault(w, *flt)
		return
	}
	u.forward(w)
}

// nfcUpload is one NFC upload being captured.
type nfcUpload struct {
	e             *extension
	r             *http.Request
	leaseID, name string       // the URL's last two elements
	rec           leaseRecord  // the lease it belongs to (a copy), or a vApp child's stand-in
	up            uploadRecord // its index.json record, completed as it goes
	rel, final    string       // the capture file, relative to DIR and absolute
	tmp           *os.File     // the capture file while it is written
	hash          hash.Hash    // sha256 of the body read so far
	cr            *countingReader
	tee           io.Reader // the paced body, copied into tmp and hash as it is read
}

// startUpload looks up the lease the URL names (a vApp child's lease id stands for its vApp
// lease) and takes the next pending injected fault, if any, in one critical section.
func (e *extension) startUpload(r *http.Request, leaseID, name string) (*nfcUpload, *fault) {
	e.mu.Lock()
	var rec leaseRecord
	var alias *nfcAlias
	if l := e.leases[leaseID]; l != nil {
		rec = *l
	} else if a := e.aliases[leaseID]; a != nil {
		// A VM of a vApp import: its own lease id is in the URL.
		alias = a
		rec = leaseRecord{Lease: a.lease, VM: a.vm, VMMoref: a.moref, files: a.files}
	}
	var flt *fault
	if len(e.faults) > 0 {
		f := e.faults[0]
		e.faults = e.faults[1:]
		flt = &f
	}
	e.mu.Unlock()

	u := &nfcUpload{e: e, r: r, leaseID: leaseID, name: name, rec: rec}
	u.up = uploadRecord{
		Lease: leaseID, VM: rec.VM, VMMoref: rec.VMMoref, File: name, Method: r.Method,
		ContentType: r.Header.Get("Content-Type"), ContentLength: r.ContentLength, Time: now(),
	}
	if alias != nil {
		u.up.Lease, u.up.NFCLease, u.up.VApp = alias.lease, leaseID, alias.vapp
	}
	dirName := safeName(rec.VM)
	if dirName == "" {
		dirName = safeName(leaseID)
	}
	u.rel = filepath.Join(dirName, safeName(name))
	u.final = filepath.Join(e.dir, u.rel)
	return u, flt
}

// openCapture creates the partial capture file beside its final name and the paced,
// counted, hashed reader of the body.
func (u *nfcUpload) openCapture() error {
	if err := os.MkdirAll(filepath.Dir(u.final), 0o755); err != nil {
		return err
	}
	tmp, err := ioutil.TempFile(filepath.Dir(u.final), "."+safeName(u.name)+".partial-")
	if err != nil {
		return err
	}
	u.tmp = tmp
	u.hash = sha256.New()
	u.cr = &countingReader{r: &pacedReader{r: u.r.Body, p: newPacer()}}
	u.tee = io.TeeReader(u.cr, io.MultiWriter(tmp, u.hash))
	return nil
}

// fail records the upload as failed with status (0: connection dropped) and why.
func (u *nfcUpload) fail(status int, format string, a ...interface{}) {
	u.up.Status, u.up.Error = status, fmt.Sprintf(format, a...)
	log.Printf("nfc %s %s/%s: %s", u.r.Method, u.leaseID, u.name, u.up.Error)
	u.e.addUpload(u.up)
}

// counted fills in the bytes read so far and their sha256.
func (u *nfcUpload) counted() {
	u.up.Bytes, u.up.Sha256 = u.cr.n, hex.EncodeToString(u.hash.Sum(nil))
}

// injectFault accepts flt.after bytes, then drops the connection or answers flt.status.
func (u *nfcUpload) injectFault(w http.ResponseWriter, flt fault) {
	_, _ = io.CopyN(ioutil.Discard, u.tee, flt.after)
	_ = u.tmp.Close()
	u.counted()
	if flt.status != 0 {
		u.fail(flt.status, "injected failure: status %d after %d bytes", flt.status, u.cr.n)
		w.Header().Set("Connection", "close")
		http.Error(w, "odt-vcsim: injected failure", flt.status)
		return
	}
	u.fail(0, "injected failure: connection dropped after %d bytes", u.cr.n)
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // net/http closes the connection
}

// forward lets vcsim's ServeNFC read the body (through the capture) and judge the upload,
// holding back its status until the capture is kept or the failure recorded.
func (u *nfcUpload) forward(w http.ResponseWriter) {
	r := u.r
	r.Body = struct {
		io.Reader
		io.Closer
	}{u.tee, r.Body}
	hs := &holdStatus{ResponseWriter: w}
	simulator.ServeNFC(hs, r)
	cerr := u.tmp.Close()
	u.counted()
	status := hs.status
	if status == 0 {
		status = http.StatusOK
	}
	if status, msg := u.verdict(status, cerr); status != http.StatusOK {
		u.fail(status, "%s", msg)
		w.WriteHeader(status)
		return
	}
	u.keep(w)
}

// verdict is the status to answer once vcsim answered status and the capture file closed
// with cerr (200 when all is well), and the failure's message otherwise.
func (u *nfcUpload) verdict(status int, cerr error) (int, string) {
	switch {
	case status != http.StatusOK:
		msg := "rejected by vcsim"
		if status == http.StatusNotFound {
			msg = "unknown lease or file"
		}
		if u.cr.err != nil {
			msg = "reading the body: " + u.cr.err.Error()
		}
		return status, msg
	case cerr != nil:
		return http.StatusInternalServerError, fmt.Sprintf("capture: %v", cerr)
	case u.r.ContentLength >= 0 && u.cr.n != u.r.ContentLength:
		return http.StatusBadRequest, fmt.Sprintf("body has %d bytes, Content-Length says %d", u.cr.n, u.r.ContentLength)
	}
	return http.StatusOK, ""
}

// keep renames the capture into place and copies it into the VM's datastore file, so that
// GET and ExportVm return the uploaded bytes.
func (u *nfcUpload) keep(w http.ResponseWriter) {
	if err := os.Rename(u.tmp.Name(), u.final); err != nil {
		u.fail(http.StatusInternalServerError, "capture: %v", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	if ds := u.rec.files[u.name]; ds != "" {
		if err := copyFileAtomic(u.final, ds); err != nil {
			_ = os.Remove(u.final)
			u.fail(http.StatusInternalServerError, "datastore write: %v", err)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
	} else {
		log.Printf("nfc %s %s/%s: no datastore file known for it (captured only)", u.r.Method, u.leaseID, u.name)
	}
	u.up.Status, u.up.Path = http.StatusOK, u.rel
	u.e.addUpload(u.up)
	log.Printf("nfc %s %s/%s: captured %d bytes into %s", u.r.Method, u.leaseID, u.name, u.up.Bytes, u.final)
	w.WriteHeader(http.StatusOK)
}

func (e *extension) addUpload(u uploadRecord) {
	e.mu.Lock()
	e.uploads = append(e.uploads, u)
	if err := e.writeIndexLocked(); err != nil {
		log.Printf("writing index.json: %v", err)
	}
	e.mu.Unlock()
}

// writeIndexLocked rewrites DIR/index.json atomically. Callers hold e.mu.
func (e *extension) writeIndexLocked() error {
	b, err := json.MarshalIndent(e.indexLocked(), "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(e.dir, ".index.json.tmp")
	if err := ioutil.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(e.dir, "index.json"))
}

type index struct {
	Leases    []leaseRecord    `json:"leases"`
	Uploads   []uploadRecord   `json:"uploads"`
	Downloads []downloadRecord `json:"downloads"`
}

func (e *extension) indexLocked() index {
	ix := index{Leases: []leaseRecord{}, Uploads: e.uploads, Downloads: e.downloads}
	if ix.Uploads == nil {
		ix.Uploads = []uploadRecord{}
	}
	if ix.Downloads == nil {
		ix.Downloads = []downloadRecord{}
	}
	for _, id := range e.order {
		ix.Leases = append(ix.Leases, *e.leases[id])
	}
	return ix
}

// ---------------------------------------------------------------- test control endpoint

// serveTest handles /odt-test/…:
//
//	POST /odt-test/fail-next-upload?after=N[&status=CODE][&count=K]
//	    the next K (default 1) NFC uploads accept N bytes (default 0), then drop the
//	    connection, or answer CODE when given
//	POST /odt-test/fail-next-download?after=N[&status=CODE][&count=K][&skip=M]
//	    let M (default 0) export downloads (GETs on /nfc-export/ of a live lease's file)
//	    through, then make the next K (default 1) send the headers (200, the full
//	    Content-Length) and N bytes (default 0) of the body, then drop the connection; or
//	    answer CODE (no body) instead when given. Answers {"pending_download_faults":n}
//	POST /odt-test/clear-faults     forget pending injected failures (uploads and downloads)
//	POST /odt-test/remove-vm-network?host=NAME[&network=PG]
//	    take the standard port group PG (default "VM Network") away from host NAME, as
//	    -hosts-without-vm-network does; answers {"host":…,"network":…,"removed":bool}
//	    (false: the host did not have it), 404 for an unknown host
//	GET  /odt-test/index            the capture index (same as DIR/index.json)
func (e *extension) serveTest(w http.ResponseWriter, r *http.Request) {
	t := testRequest{w: w, q: r.URL.Query()}
	switch {
	case r.URL.Path == "/odt-test/nfc-rate" && r.Method == http.MethodPost:
		t.setNFCRate()
	case r.URL.Path == "/odt-test/fail-next-upload" && r.Method == http.MethodPost:
		e.failNextUpload(t)
	case r.URL.Path == "/odt-test/fail-next-download" && r.Method == http.MethodPost:
		e.failNextDownload(t)
	case r.URL.Path == "/odt-test/clear-faults" && r.Method == http.MethodPost:
		e.mu.Lock()
		e.faults = nil
		e.dlFaults = nil
		e.mu.Unlock()
		fmt.Fprintln(w, "{\"pending_faults\":0,\"pending_download_faults\":0}")
	case r.URL.Path == "/odt-test/remove-vm-network" && r.Method == http.MethodPost:
		t.removeVMNetwork()
	case r.URL.Path == "/odt-test/index" && r.Method == http.MethodGet:
		e.mu.Lock()
		b, _ := json.MarshalIndent(e.indexLocked(), "", "  ")
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(append(b, '\n'))
	default:
		http.NotFound(w, r)
	}
}

// testRequest is one call on /odt-test/: where to answer, and its query.
type testRequest struct {
	w http.ResponseWriter
	q url.Values
}

// num reads the query's non-negative integer key (def when absent). On a bad value it answers
// 400 and returns false; callers read every key before giving up, as each bad one is named.
func (t testRequest) num(key string, def int64) (int64, bool) {
	v := t.q.Get(key)
	if v == "" {
		return def, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		http.Error(t.w, fmt.Sprintf("bad %s=%q", key, v), http.StatusBadRequest)
		return 0, false
	}
	return n, true
}

// faultStatus checks an injected status (0: drop the connection), answering 400 when it is
// not an HTTP status code.
func (t testRequest) faultStatus(status int64) bool {
	if status != 0 && (status < 100 || status > 599) {
		http.Error(t.w, "status must be an HTTP status code", http.StatusBadRequest)
		return false
	}
	return true
}

// setNFCRate handles POST /odt-test/nfc-rate?mibps=N (rate.go).
func (t testRequest) setNFCRate() {
	mibps, ok := t.num("mibps", 0)
	if !ok {
		return
	}
	setStreamRateMiB(mibps)
	fmt.Fprintf(t.w, "{\"nfc_stream_mibps\":%d}\n", mibps)
}

// failNextUpload handles POST /odt-test/fail-next-upload (see serveTest).
func (e *extension) failNextUpload(t testRequest) {
	after, ok1 := t.num("after", 0)
	status, ok2 := t.num("status", 0)
	count, ok3 := t.num("count", 1)
	if !ok1 || !ok2 || !ok3 || !t.faultStatus(status) {
		return
	}
	e.mu.Lock()
	for i := int64(0); i < count; i++ {
		e.faults = append(e.faults, fault{after: after, status: int(status)})
	}
	n := len(e.faults)
	e.mu.Unlock()
	fmt.Fprintf(t.w, "{\"pending_faults\":%d}\n", n)
}

// failNextDownload handles POST /odt-test/fail-next-download (see serveTest): skip applies to
// the first of the count faults only.
func (e *extension) failNextDownload(t testRequest) {
	after, ok1 := t.num("after", 0)
	status, ok2 := t.num("status", 0)
	count, ok3 := t.num("count", 1)
	skip, ok4 := t.num("skip", 0)
	if !ok1 || !ok2 || !ok3 || !ok4 || !t.faultStatus(status) {
		return
	}
	e.mu.Lock()
	for i := int64(0); i < count; i++ {
		f := downloadFault{after: after, status: int(status)}
		if i == 0 {
			f.skip = skip
		}
		e.dlFaults = append(e.dlFaults, f)
	}
	n := len(e.dlFaults)
	e.mu.Unlock()
	fmt.Fprintf(t.w, "{\"pending_download_faults\":%d}\n", n)
}

// removeVMNetwork handles POST /odt-test/remove-vm-network (see serveTest; network.go).
func (t testRequest) removeVMNetwork() {
	host, pg := t.q.Get("host"), t.q.Get("network")
	if host == "" {
		http.Error(t.w, "host=NAME is required", http.StatusBadRequest)
		return
	}
	if pg == "" {
		pg = vmNetwork
	}
	removed, err := removePortGroupFromHost(host, pg)
	if err != nil {
		http.Error(t.w, err.Error(), http.StatusNotFound)
		return
	}
	b, _ := json.Marshal(struct {
		Host    string `json:"host"`
		Network string `json:"network"`
		Removed bool   `json:"removed"`
	}{host, pg, removed})
	t.w.Header().Set("Content-Type", "application/json")
	_, _ = t.w.Write(append(b, '\n'))
}

// ---------------------------------------------------------------- helpers

// safeName makes a single path element out of s ("" stays "").
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == 0 || r == '\\' {
			return '_'
		}
		return r
	}, s)
	if s == "." || s == ".." {
		s = "_" + s
	}
	return s
}

func copyFileAtomic(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".odt-tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func xmlUnescape(s string) string {
	r := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", "\"", "&#34;", "\"", "&apos;", "'", "&#39;", "'", "&amp;", "&")
	return r.Replace(s)
}
