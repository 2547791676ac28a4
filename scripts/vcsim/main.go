// odt-vcsim: govmomi's vCenter simulator (vcsim 0.24.2, Debian's
// golang-github-vmware-govmomi-dev) with the extensions odt's tests need:
//
//   - every byte uploaded through an NFC lease (POST/PUT /nfc/<lease>/<file>) is captured
//     into -capture DIR (DIR/<vm name>/<file>, indexed in DIR/index.json) and written into
//     the VM's datastore disk file, so a later GET or export returns it;
//   - lease bookkeeping (import/export leases, progress calls, complete/abort) in the index;
//   - fault injection: -nfc-fail-after BYTES, or POST /odt-test/fail-next-upload?after=N;
//   - hosts without the "VM Network" port group: -hosts-without-vm-network H1,H2, or
//     POST /odt-test/remove-vm-network?host=H; and an ESXi-like AddPortGroup that lets a
//     host join an existing standard network (see network.go);
//   - ExportVm, HttpNfcLeaseGetManifest, HttpNfcLeaseSetManifestChecksumType and
//     OvfManager.CreateDescriptor, which vcsim lacks.
//
// Build with scripts/build-vcsim.sh. On start it prints one JSON line on stdout:
//
//	{"url":"https://127.0.0.1:PORT/sdk","port":PORT,"tls":true,"thumbprint":"AA:BB:…","capture":"DIR"}
//
// and runs until SIGTERM/SIGINT or until stdin reaches EOF (so a parent test process that
// dies takes it down), then removes the model's datastore directories.
//
// Hooks rely on Go's ServeMux giving host-specific patterns precedence: clients must reach
// the server as 127.0.0.1 or localhost (the printed URL does) for capture to happen.
package main

import (
	"crypto/sha1"
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
	"strings"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (`HOST:PORT`; port 0 picks a free port)")
	useTLS := flag.Bool("tls", false, "serve https with vcsim's built-in self-signed certificate")
	capture := flag.String("capture", "", "`DIR` receiving the bytes of every NFC upload and index.json (required; created if missing)")
	failAfter := flag.Int64("nfc-fail-after", -1, "drop the connection of the first NFC upload after `BYTES` bytes (once); -1 = never")
	user := flag.String("user", "", "only this user name may log in (with -password); default: any non-empty credentials")
	password := flag.String("password", "", "the password for -user")
	stdinEOF := flag.Bool("exit-on-stdin-eof", true, "exit when stdin reaches EOF (false when run in the background from a shell)")
	verbose := flag.Bool("v", false, "log every SOAP request and response to stderr")
	noVMNetwork := flag.String("hosts-without-vm-network", "", "comma-separated host `NAMES` (e.g. DC0_C0_H1) that lack the \"VM Network\" port group")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: %s -capture DIR [options]\n\nvCenter simulator for odt's tests.\n\nOptions:\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 0 {
		usageError("unexpected argument %q", flag.Arg(0))
	}
	if *capture == "" {
		usageError("-capture DIR is required")
	}
	if (*user == "") != (*password == "") {
		usageError("-user and -password go together")
	}
	host, port, err := net.SplitHostPort(*listen)
	if err != nil {
		usageError("-listen %q: %v", *listen, err)
	}
	if port != "0" {
		// vcsim's NewServer panics on a busy port: say so plainly instead.
		l, err := net.Listen("tcp", *listen)
		if err != nil {
			fatal("cannot listen on %s: %v", *listen, err)
		}
		_ = l.Close()
	}
	capDir, err := filepath.Abs(*capture)
	if err != nil {
		fatal("capture dir: %v", err)
	}
	if err := os.MkdirAll(capDir, 0o755); err != nil {
		fatal("capture dir: %v", err)
	}
	log.SetPrefix("odt-vcsim: ")
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	simulator.Trace = *verbose

	model := simulator.VPX()
	if err := model.Create(); err != nil {
		fatal("creating the model: %v", err)
	}
	model.Service.Listen = &url.URL{Host: *listen}
	if *user != "" {
		model.Service.Listen.User = url.UserPassword(*user, *password)
	}
	if *useTLS {
		model.Service.TLS = new(tls.Config)
	}

	ext, err := newExtension(model.Service, capDir, *failAfter)
	if err != nil {
		fatal("%v", err)
	}
	mux := http.NewServeMux()
	model.Service.ServeMux = mux
	ext.register(mux, host)

	srv := model.Service.NewServer()
	ext.addHost(mux, srv.URL.Hostname()) // the host clients are told to use
	ext.install()
	for _, h := range splitNames(*noVMNetwork) {
		if _, err := removePortGroupFromHost(h, vmNetwork); err != nil {
			fatal("-hosts-without-vm-network: %v", err)
		}
	}

	portNum := srv.Listener.Addr().(*net.TCPAddr).Port
	u := *srv.URL
	u.User = nil
	thumb := ""
	if *useTLS {
		thumb = thumbprint(srv.Certificate().Raw)
	}
	line, _ := json.Marshal(struct {
		URL        string `json:"url"`
		Port       int    `json:"port"`
		TLS        bool   `json:"tls"`
		Thumbprint string `json:"thumbprint"`
		Capture    string `json:"capture"`
		PID        int    `json:"pid"`
	}{u.String(), portNum, *useTLS, thumb, capDir, os.Getpid()})
	fmt.Println(string(line))
	_ = os.Stdout.Sync()

	done := make(chan string, 2)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() { done <- (<-sigs).String() }()
	if *stdinEOF {
		go func() {
			_, _ = io.Copy(ioutil.Discard, os.Stdin)
			done <- "stdin closed"
		}()
	}
	why := <-done
	log.Printf("stopping (%s)", why)
	srv.CloseClientConnections()
	srv.Close()
	model.Remove()
}

// thumbprint is the SHA-1 of a DER certificate as uppercase colon-separated hex, the form
// vSphere uses for sslThumbprint.
func thumbprint(der []byte) string {
	sum := sha1.Sum(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
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
