// odt-vcsim: govmomi's vCenter simulator (vcsim 0.24.2, Debian's
// golang-github-vmware-govmomi-dev) with the extensions odt's tests need:
//
//   - every byte uploaded through an NFC lease (POST/PUT /nfc/<lease>/<file>) is captured
//     into -capture DIR (DIR/<vm name>/<file>, indexed in DIR/index.json) and written into
//     the VM's datastore disk file, so a later GET or export returns it;
//   - lease bookkeeping (import/export leases, progress calls, complete/abort) in the index;
//   - fault injection: -nfc-fail-after BYTES, or POST /odt-test/fail-next-upload?after=N;
//     for export downloads, POST /odt-test/fail-next-download?after=N[&skip=M] (each GET
//     of an export lease's file is recorded in the index's "downloads"; see download.go);
//   - hosts without the "VM Network" port group: -hosts-without-vm-network H1,H2, or
//     POST /odt-test/remove-vm-network?host=H; and an ESXi-like AddPortGroup that lets a
//     host join an existing standard network (see network.go);
//   - ExportVm, HttpNfcLeaseGetManifest, HttpNfcLeaseSetManifestChecksumType and
//     OvfManager.CreateDescriptor, which vcsim lacks;
//   - vApps (OVF VirtualSystemCollection): CreateImportSpec returns a VirtualAppImportSpec,
//     ImportVApp creates the VirtualApp and its VMs with one lease for all their disks, and
//     Destroy_Task on a VirtualApp removes its VMs too (see vapp.go);
//   - RelocateVM_Task into another resource pool takes the VM out of its old pool or vApp
//     (vcsim's keeps it listed there), as vCloud Director's move-import needs (relocate.go);
//   - a per-stream bandwidth limit for NFC uploads and downloads, as an ESXi host's NFC
//     service imposes: -nfc-stream-mibps N or POST /odt-test/nfc-rate?mibps=N (rate.go);
//   - with -tls, a fresh ECDSA P-256 certificate instead of vcsim's 1024-bit RSA one.
//
// Build with scripts/build-vcsim.sh. On start it prints one JSON line on stdout:
//
//	{"url":"https://127.0.0.1:PORT/sdk","port":PORT,"tls":true,"thumbprint":"AA:BB:…",
//	 "thumbprint_sha256":"CC:DD:…","capture":"DIR","pid":PID}
//
// (thumbprints: SHA-1 and SHA-256 of the certificate, "" without -tls). With -tls the server
// presents a self-signed ECDSA P-256 certificate made at start-up (see cert.go), which
// rustls clients can pin; vcsim's built-in one is 1024-bit RSA.
//
// and runs until SIGTERM/SIGINT or until stdin reaches EOF (so a parent test process that
// dies takes it down), then removes the model's datastore directories.
//
// Hooks rely on Go's ServeMux giving host-specific patterns precedence: clients must reach
// the server as 127.0.0.1 or localhost (the printed URL does) for capture to happen.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	opts := parseFlags()
	host, capDir := opts.check()
	log.SetPrefix("odt-vcsim: ")
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	simulator.Trace = opts.verbose

	model := newModel(opts, host)
	ext, err := newExtension(model.Service, capDir, opts.failAfter)
	if err != nil {
		fatal("%v", err)
	}
	mux := http.NewServeMux()
	model.Service.ServeMux = mux
	ext.register(mux, host)

	srv := model.Service.NewServer()
	ext.addHost(mux, srv.URL.Hostname()) // the host clients are told to use
	ext.install()
	for _, h := range splitNames(opts.noVMNetwork) {
		if _, err := removePortGroupFromHost(h, vmNetwork); err != nil {
			fatal("-hosts-without-vm-network: %v", err)
		}
	}

	printReady(srv, opts.useTLS, capDir)
	why := waitForStop(opts.stdinEOF)
	log.Printf("stopping (%s)", why)
	srv.CloseClientConnections()
	srv.Close()
	model.Remove()
}

// options are the command line's flags.
type options struct {
	listen, capture, user, password, noVMNetwork string
	useTLS, stdinEOF, verbose                    bool
	failAfter, streamMiB                         int64
}

// parseFlags reads the command line, and sets the NFC stream rate (-nfc-stream-mibps).
func parseFlags() *options {
	o := &options{}
	flag.StringVar(&o.listen, "listen", "127.0.0.1:0", "address to listen on (`HOST:PORT`; port 0 picks a free port)")
	flag.BoolVar(&o.useTLS, "tls", false, "serve https with a fresh self-signed ECDSA P-256 certificate (for 127.0.0.1, ::1, localhost)")
	flag.StringVar(&o.capture, "capture", "", "`DIR` receiving the bytes of every NFC upload and index.json (required; created if missing)")
	flag.Int64Var(&o.failAfter, "nfc-fail-after", -1, "drop the connection of the first NFC upload after `BYTES` bytes (once); -1 = never")
	flag.StringVar(&o.user, "user", "", "only this user name may log in (with -password); default: any non-empty credentials")
	flag.StringVar(&o.password, "password", "", "the password for -user")
	flag.BoolVar(&o.stdinEOF, "exit-on-stdin-eof", true, "exit when stdin reaches EOF (false when run in the background from a shell)")
	flag.BoolVar(&o.verbose, "v", false, "log every SOAP request and response to stderr")
	flag.Int64Var(&o.streamMiB, "nfc-stream-mibps", 0, "bound each NFC upload and export download to `MIB` MiB/s (0 = unlimited; also POST /odt-test/nfc-rate?mibps=N)")
	flag.StringVar(&o.noVMNetwork, "hosts-without-vm-network", "", "comma-separated host `NAMES` (e.g. DC0_C0_H1) that lack the \"VM Network\" port group")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: %s -capture DIR [options]\n\nvCenter simulator for odt's tests.\n\nOptions:\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if o.streamMiB < 0 {
		usageError("-nfc-stream-mibps must be 0 or more")
	}
	setStreamRateMiB(o.streamMiB)
	return o
}

// check exits with a usage error (2) or an error (1) unless the options make sense, the
// listen address is free and the capture directory exists (it is created); it returns the
// listen host and the capture directory's absolute path.
func (o *options) check() (host, capDir string) {
	if flag.NArg() != 0 {
		usageError("unexpected argument %q", flag.Arg(0))
	}
	if o.capture == "" {
		usageError("-capture DIR is required")
	}
	if (o.user == "") != (o.password == "") {
		usageError("-user and -password go together")
	}
	host, port, err := net.SplitHostPort(o.listen)
	if err != nil {
		usageError("-listen %q: %v", o.listen, err)
	}
	if port != "0" {
		// vcsim's NewServer panics on a busy port: say so plainly instead.
		l, err := net.Listen("tcp", o.listen)
		if err != nil {
			fatal("cannot listen on %s: %v", o.listen, err)
		}
		_ = l.Close()
	}
	capDir, err = filepath.Abs(o.capture)
	if err != nil {
		fatal("capture dir: %v", err)
	}
	if err := os.MkdirAll(capDir, 0o755); err != nil {
		fatal("capture dir: %v", err)
	}
	return host, capDir
}

// newModel creates vcsim's VPX model (a vCenter) set up to listen as the options say.
func newModel(o *options, host string) *simulator.Model {
	model := simulator.VPX()
	if err := model.Create(); err != nil {
		fatal("creating the model: %v", err)
	}
	model.Service.Listen = &url.URL{Host: o.listen}
	if o.user != "" {
		model.Service.Listen.User = url.UserPassword(o.user, o.password)
	}
	if o.useTLS {
		cert, err := selfSignedCert(host)
		if err != nil {
			fatal("%v", err)
		}
		model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	return model
}

// printReady prints the one JSON line that tells the parent process the server is up and
// how to reach it (see the package comment).
func printReady(srv *simulator.Server, useTLS bool, capDir string) {
	portNum := srv.Listener.Addr().(*net.TCPAddr).Port
	u := *srv.URL
	u.User = nil
	thumb, thumb256 := "", ""
	if useTLS {
		thumb = thumbprint(srv.Certificate().Raw)
		thumb256 = thumbprintSHA256(srv.Certificate().Raw)
	}
	line, _ := json.Marshal(struct {
		URL              string `json:"url"`
		Port             int    `json:"port"`
		TLS              bool   `json:"tls"`
		Thumbprint       string `json:"thumbprint"`
		ThumbprintSHA256 string `json:"thumbprint_sha256"`
		Capture          string `json:"capture"`
		PID              int    `json:"pid"`
	}{u.String(), portNum, useTLS, thumb, thumb256, capDir, os.Getpid()})
	fmt.Println(string(line))
	_ = os.Stdout.Sync()
}

// waitForStop blocks until a signal arrives or (with stdinEOF) stdin reaches EOF, so a
// parent test process that dies takes the simulator down; it returns which.
func waitForStop(stdinEOF bool) string {
	done := make(chan string, 2)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() { done <- (<-sigs).String() }()
	if stdinEOF {
		go func() {
			_, _ = io.Copy(ioutil.Discard, os.Stdin)
			done <- "stdin closed"
		}()
	}
	return <-done
}

func usageError(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "odt-vcsim: "+format+"\n", a...)
	flag.Usage()
	os.Exit(2)
}

func fatal(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "odt-vcsim: error: "+format+"\n", a...)
	os.Exit(1)
}
