//! A launcher for `odt-vcsim`, our extension of govmomi's vCenter simulator (vcsim 0.24.2,
//! built from Debian packages by `scripts/build-vcsim.sh`; sources in `tests/vcsim/`).
//!
//! [`Vcsim::start`] builds the binary once per test process (the script installs Go and
//! govmomi with apt-get when it can), starts it on a free loopback port and reads the JSON
//! line it prints. The simulator keeps running while its stdin is open; dropping the
//! [`Vcsim`] closes stdin (it then cleans up and exits), and kills it if it lingers. Its
//! datastore and the capture folder live in a temporary folder removed on drop.
//! `ODT_VCSIM=/path/to/odt-vcsim` uses a prebuilt binary instead of building one.
//!
//! Every byte uploaded through an NFC lease lands in [`Vcsim::capture_dir`] and is
//! described in its `index.json` (see [`Vcsim::index`], [`Vcsim::captured`]). Every GET of an
//! export lease's file is recorded there too ([`Vcsim::downloads`]). Uploads and downloads
//! can be made to fail ([`Vcsim::fail_next_uploads`], [`Vcsim::fail_next_downloads`],
//! [`Vcsim::fail_downloads_after`]).
//!
//! vApps (OVF VirtualSystemCollection) import as in vCenter: CreateImportSpec returns a
//! `VirtualAppImportSpec` with one child `VirtualMachineImportSpec` per VM, and ImportVApp
//! creates a VirtualApp holding the VMs and one lease (entity: the VirtualApp) whose
//! deviceUrls cover every VM's disks (importKey `/<vm>/disk:<n>`); uploads are captured under
//! each child VM's name. Destroy_Task on the VirtualApp removes it and its VMs.
//!
//! With `tls`, the simulator presents a fresh self-signed ECDSA P-256 certificate
//! ([`Vcsim::thumbprint`], [`Vcsim::thumbprint_sha256`]) that rustls clients can pin.
//!
//! Hosts can lack the "VM Network" port group: start with
//! `Options { args: vec!["-hosts-without-vm-network".into(), "DC0_C0_H1".into()], .. }` or
//! call [`Vcsim::remove_vm_network`]. `HostNetworkSystem.AddPortGroup` then behaves like
//! ESXi: a host joins the existing "VM Network" Network (AlreadyExists only when that host
//! has it).
//!
//! ```no_run
//! use odt_tests::vcsim::Vcsim;
//! let Some(vc) = Vcsim::start_or_skip(true) else { return };
//! // point odt-import at vc.url (thumbprint: vc.thumbprint), then:
//! for (file, path) in vc.captured("my-vm") { /* compare bytes */ }
//! ```

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{skip, workspace};

/// How long to wait for the simulator's JSON line.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a dropped simulator gets to exit on its own after stdin closes.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Why there is no binary.
#[derive(Debug, Clone)]
enum BuildError {
    /// This machine cannot provide Go/govmomi (not root, no apt-get, apt failed): skip.
    Unavailable(String),
    /// The build itself failed: a real failure.
    Failed(String),
}

/// The simulator binary: `$ODT_VCSIM` when set, else built by `scripts/build-vcsim.sh`
/// (once per process; the script is a no-op when the binary is up to date).
fn binary() -> Result<&'static Path, &'static BuildError> {
    static BIN: OnceLock<Result<PathBuf, BuildError>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("ODT_VCSIM") {
            let p = PathBuf::from(p);
            return if p.is_file() {
                Ok(p)
            } else {
                Err(BuildError::Failed(format!(
                    "ODT_VCSIM={} is not a file",
                    p.display()
                )))
            };
        }
        let script = workspace().join("scripts/build-vcsim.sh");
        let started = Instant::now();
        let out = Command::new("bash")
            .arg(&script)
            .current_dir(workspace())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                BuildError::Unavailable(format!("cannot run bash {}: {e}", script.display()))
            })?;
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        match out.status.code() {
            Some(0) => {
                let stdout = String::from_utf8_lossy(&out.stdout);
                let path = stdout.lines().last().unwrap_or("").trim();
                if started.elapsed() > Duration::from_secs(5) {
                    eprintln!(
                        "odt-vcsim ready after {:.0?} (first build): {path}",
                        started.elapsed()
                    );
                }
                if path.is_empty() || !Path::new(path).is_file() {
                    return Err(BuildError::Failed(format!(
                        "build-vcsim.sh printed no binary path\n{stderr}"
                    )));
                }
                Ok(PathBuf::from(path))
            }
            Some(3) => Err(BuildError::Unavailable(format!(
                "vcsim cannot be built here: {stderr}"
            ))),
            _ => Err(BuildError::Failed(format!(
                "scripts/build-vcsim.sh failed ({}):\n{stderr}",
                out.status
            ))),
        }
    })
    .as_ref()
    .map(PathBuf::as_path)
}

/// `Ok` when this machine can run the simulator (building it, and installing Go and govmomi
/// as root, if needed); `Err` says why not. A broken build (compile error) is not
/// "unavailable": `available` is then `Ok` and [`Vcsim::start`] returns the error.
pub fn available() -> Result<(), String> {
    match binary() {
        Ok(_) | Err(BuildError::Failed(_)) => Ok(()),
        Err(BuildError::Unavailable(why)) => Err(why.clone()),
    }
}

/// Options for [`Vcsim::start_with`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Serve https with a self-signed ECDSA P-256 certificate made at start-up (for
    /// 127.0.0.1, ::1 and localhost; valid for a day), which rustls clients can pin.
    pub tls: bool,
    /// Only this user and password may log in (default: any non-empty credentials).
    pub login: Option<(String, String)>,
    /// Drop the connection of the first NFC upload after this many bytes.
    pub nfc_fail_after: Option<u64>,
    /// Extra command-line arguments.
    pub args: Vec<String>,
}

/// A running simulator. Dropping it stops it.
pub struct Vcsim {
    /// SDK URL, e.g. `https://127.0.0.1:PORT/sdk`.
    pub url: String,
    /// The TCP port.
    pub port: u16,
    /// Whether it serves https.
    pub tls: bool,
    /// SHA-1 of the server certificate as uppercase colon hex (`""` without TLS).
    pub thumbprint: String,
    /// SHA-256 of the server certificate as uppercase colon hex (`""` without TLS).
    pub thumbprint_sha256: String,
    /// Where NFC uploads are captured (`<vm>/<file>` and `index.json`).
    pub capture_dir: PathBuf,
    child: Child,
    /// Held open: the simulator exits when it closes.
    stdin: Option<ChildStdin>,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

/// One NFC upload attempt from `index.json` (`uploads`).
#[derive(Debug, Clone)]
pub struct Upload {
    /// Lease moref value (for a vApp import: the vApp's lease, which ImportVApp returned).
    pub lease: String,
    /// The vApp holding the VM, for a vApp import ("" otherwise).
    pub vapp: String,
    /// VM name ("" when the lease was unknown); for a vApp import, the child VM's name.
    pub vm: String,
    /// VM moref value, e.g. `vm-69`.
    pub vm_moref: String,
    /// File name in the NFC URL, e.g. `disk-0.vmdk`.
    pub file: String,
    /// `POST` or `PUT`.
    pub method: String,
    /// Bytes received.
    pub bytes: u64,
    /// SHA-256 (hex) of the bytes received.
    pub sha256: String,
    /// HTTP status answered; 0 when the connection was dropped (fault injection).
    pub status: u16,
    /// The captured copy (only for status 200).
    pub path: Option<PathBuf>,
    /// Why it failed.
    pub error: Option<String>,
}

/// One GET of an export lease's file (`GET /nfc-export/<lease>/<file>`) from `index.json`
/// (`downloads`), recorded when it ended.
#[derive(Debug, Clone)]
pub struct Download {
    /// Export lease moref value.
    pub lease: String,
    /// VM name.
    pub vm: String,
    /// File name in the URL (the deviceUrl's targetId), e.g. `disk-0.vmdk`.
    pub file: String,
    /// The Range header, if one was sent ("" otherwise).
    pub range: String,
    /// The file's size.
    pub size: u64,
    /// Body bytes sent.
    pub bytes: u64,
    /// HTTP status sent; 0 when the connection was dropped (fault injection).
    pub status: u16,
    /// Why it failed (injected fault, client gone).
    pub error: Option<String>,
    /// Still being served: `status` and `bytes` are not final.
    pub in_progress: bool,
}

/// The vCenter user of [`Vcsim::with_login_or_skip`]'s simulator.
pub const USER: &str = "odt-test";
/// Its password.
pub const PASSWORD: &str = "s3cret-vc-password";

impl Vcsim {
    /// Starts a simulator (http, or https when `tls`).
    pub fn start(tls: bool) -> Result<Vcsim, String> {
        Vcsim::start_with(&Options {
            tls,
            ..Options::default()
        })
    }

    /// Starts a simulator, or calls [`skip`] (which panics under `ODT_REQUIRE_ALL_TESTS=1`)
    /// and returns `None` when this machine cannot build it. Other failures panic.
    pub fn start_or_skip(tls: bool) -> Option<Vcsim> {
        if let Err(why) = available() {
            skip(&why);
            return None;
        }
        Some(Vcsim::start(tls).unwrap_or_else(|e| panic!("starting odt-vcsim: {e}")))
    }

    /// Starts a simulator that accepts only [`USER`] with [`PASSWORD`], and `opts` otherwise,
    /// or returns `None` (skipping loudly; a failure under ODT_REQUIRE_ALL_TESTS=1) when this
    /// machine cannot build it. Other failures panic.
    pub fn with_login_or_skip(opts: Options) -> Option<Vcsim> {
        if let Err(why) = available() {
            skip(&why);
            return None;
        }
        let opts = Options {
            login: Some((USER.into(), PASSWORD.into())),
            ..opts
        };
        Some(Vcsim::start_with(&opts).unwrap_or_else(|e| panic!("starting odt-vcsim: {e}")))
    }

    /// Starts a simulator with options.
    pub fn start_with(opts: &Options) -> Result<Vcsim, String> {
        let bin = match binary() {
            Ok(b) => b,
            Err(BuildError::Unavailable(w) | BuildError::Failed(w)) => return Err(w.clone()),
        };
        let tmp = tempfile::Builder::new()
            .prefix("odt-vcsim.")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let capture = tmp.path().join("capture");
        // vcsim puts its datastores under $TMPDIR: keep them inside our temporary folder so
        // nothing leaks even if the simulator is killed.
        let dstmp = tmp.path().join("datastores");
        std::fs::create_dir_all(&dstmp).map_err(|e| format!("{}: {e}", dstmp.display()))?;
        let log = tmp.path().join("vcsim.log");
        let logf = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;

        let mut child = vcsim_command(bin, opts, &capture, &dstmp, logf)
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", bin.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let rx = first_line(stdout);
        let fail = |mut child: Child, msg: String| -> String {
            let _ = child.kill();
            let _ = child.wait();
            format!("{msg}\n--- odt-vcsim log:\n{}", tail(&log, 30))
        };
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(l)) if !l.trim().is_empty() => l,
            Ok(Ok(_)) => {
                return Err(fail(
                    child,
                    "odt-vcsim exited without printing its address".into(),
                ))
            }
            Ok(Err(e)) => return Err(fail(child, format!("reading odt-vcsim's stdout: {e}"))),
            Err(_) => {
                return Err(fail(
                    child,
                    format!("odt-vcsim printed nothing within {START_TIMEOUT:?}"),
                ))
            }
        };
        let v: serde_json::Value = match serde_json::from_str(line.trim()) {
            Ok(v) => v,
            Err(e) => return Err(fail(child, format!("bad JSON line {line:?}: {e}"))),
        };
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        let port = v["port"].as_u64().and_then(|p| u16::try_from(p).ok());
        let Some(port) = port else {
            return Err(fail(child, format!("no port in {line:?}")));
        };
        Ok(Vcsim {
            url: s("url"),
            port,
            tls: v["tls"].as_bool().unwrap_or(false),
            thumbprint: s("thumbprint"),
            thumbprint_sha256: s("thumbprint_sha256"),
            capture_dir: PathBuf::from(s("capture")),
            child,
            stdin,
            log,
            _tmp: tmp,
        })
    }

    /// The simulator's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `scheme://127.0.0.1:PORT`, the base for NFC URLs (replace `https://*` with it).
    pub fn base(&self) -> String {
        self.url.trim_end_matches("/sdk").to_owned()
    }

    /// Rewrites a lease deviceUrl (`https://*/nfc/...`) to this server.
    pub fn nfc_url(&self, device_url: &str) -> String {
        match device_url.split_once("://") {
            Some((_, rest)) => match rest.split_once('/') {
                Some((_, path)) => format!("{}/{path}", self.base()),
                None => self.base(),
            },
            None => device_url.to_owned(),
        }
    }

    /// The simulator's log so far (stderr: one line per NFC transfer, faults, …).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The capture index (`index.json`): `{"leases": [...], "uploads": [...], "downloads":
    /// [...]}`.
    pub fn index(&self) -> serde_json::Value {
        let p = self.capture_dir.join("index.json");
        let text =
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", p.display()))
    }

    /// Every NFC upload attempt, in order (failed ones included).
    pub fn uploads(&self) -> Vec<Upload> {
        let ix = self.index();
        let Some(list) = ix["uploads"].as_array() else {
            return vec![];
        };
        list.iter()
            .map(|u| {
                let s = |k: &str| u[k].as_str().unwrap_or_default().to_owned();
                Upload {
                    lease: s("lease"),
                    vapp: s("vapp"),
                    vm: s("vm"),
                    vm_moref: s("vm_moref"),
                    file: s("file"),
                    method: s("method"),
                    bytes: u["bytes"].as_u64().unwrap_or(0),
                    sha256: s("sha256"),
                    status: u["status"].as_u64().unwrap_or(0) as u16,
                    path: u["path"].as_str().map(|p| self.capture_dir.join(p)),
                    error: u["error"].as_str().map(str::to_owned),
                }
            })
            .collect()
    }

    /// The files successfully uploaded for VM `vm` (by name), as (NFC file name, captured
    /// copy), sorted by file name; a file uploaded twice appears once, with its last copy.
    pub fn captured(&self, vm: &str) -> Vec<(String, PathBuf)> {
        let mut out: Vec<(String, PathBuf)> = vec![];
        for u in self.uploads() {
            if u.vm != vm || u.status != 200 {
                continue;
            }
            let Some(p) = u.path else { continue };
            out.retain(|(f, _)| *f != u.file);
            out.push((u.file, p));
        }
        out.sort();
        out
    }

    /// The lease records (`index.json` `leases`): lease, kind (import/export), vm, vm_moref,
    /// state (ready/done/aborted), progress_calls, last_progress, abort_fault. For a vApp
    /// import, vm/vm_moref name the VirtualApp, `entity_type` is "VirtualApp" and `children`
    /// lists its VMs (vm, vm_moref, vapp, nfc_lease, files).
    pub fn leases(&self) -> Vec<serde_json::Value> {
        self.index()["leases"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Makes the next `count` NFC uploads fail after `after` bytes: the connection is
    /// dropped, or answered with `status` when given.
    pub fn fail_next_uploads(
        &self,
        after: u64,
        status: Option<u16>,
        count: u32,
    ) -> Result<(), String> {
        let mut q = format!("after={after}&count={count}");
        if let Some(s) = status {
            q.push_str(&format!("&status={s}"));
        }
        let (code, body) = self.http("POST", &format!("/odt-test/fail-next-upload?{q}"), None)?;
        if code != 200 {
            return Err(format!("fail-next-upload: HTTP {code}: {body}"));
        }
        Ok(())
    }

    /// Bounds each NFC upload and export download stream started from now on to `mibps` MiB/s
    /// (0: unlimited), as an ESXi host's NFC service bounds each connection.
    pub fn set_nfc_stream_rate(&self, mibps: u64) -> Result<(), String> {
        let (code, body) = self.http("POST", &format!("/odt-test/nfc-rate?mibps={mibps}"), None)?;
        if code != 200 {
            return Err(format!("nfc-rate: HTTP {code}: {body}"));
        }
        Ok(())
    }

    /// Makes the next `count` export downloads (GETs on `/nfc-export/...` of a live export
    /// lease's file) fail: the server sends the headers (200, the full Content-Length) and
    /// `after` bytes of the body, then drops the connection; or answers `status` (no body)
    /// when given.
    pub fn fail_next_downloads(
        &self,
        after: u64,
        status: Option<u16>,
        count: u32,
    ) -> Result<(), String> {
        self.fail_downloads_after(0, after, status, count)
    }

    /// Like [`Vcsim::fail_next_downloads`], but lets the next `skip` downloads through first
    /// (e.g. `skip = 1` cuts the second disk of an export).
    pub fn fail_downloads_after(
        &self,
        skip: u32,
        after: u64,
        status: Option<u16>,
        count: u32,
    ) -> Result<(), String> {
        let mut q = format!("after={after}&count={count}&skip={skip}");
        if let Some(s) = status {
            q.push_str(&format!("&status={s}"));
        }
        let (code, body) = self.http("POST", &format!("/odt-test/fail-next-download?{q}"), None)?;
        if code != 200 {
            return Err(format!("fail-next-download: HTTP {code}: {body}"));
        }
        Ok(())
    }

    /// Forgets every pending injected failure (uploads and downloads).
    pub fn clear_faults(&self) -> Result<(), String> {
        let (code, body) = self.http("POST", "/odt-test/clear-faults", None)?;
        if code != 200 {
            return Err(format!("clear-faults: HTTP {code}: {body}"));
        }
        Ok(())
    }

    /// Every export download (GET on `/nfc-export/...`), in the order they started; failed
    /// ones included. A client can see the last byte a moment before the server records the
    /// download as finished, so this waits (up to 5 s) until none is in progress.
    pub fn downloads(&self) -> Vec<Download> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let list = self.downloads_now();
            if Instant::now() >= deadline || !list.iter().any(|d| d.in_progress) {
                return list;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The export downloads as recorded right now (some may be in progress).
    pub fn downloads_now(&self) -> Vec<Download> {
        let ix = self.index();
        let Some(list) = ix["downloads"].as_array() else {
            return vec![];
        };
        list.iter()
            .map(|d| {
                let s = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
                Download {
                    lease: s("lease"),
                    vm: s("vm"),
                    file: s("file"),
                    range: s("range"),
                    size: d["size"].as_u64().unwrap_or(0),
                    bytes: d["bytes"].as_u64().unwrap_or(0),
                    status: d["status"].as_u64().unwrap_or(0) as u16,
                    error: d["error"].as_str().map(str::to_owned),
                    in_progress: d["in_progress"].as_bool().unwrap_or(false),
                }
            })
            .collect()
    }

    /// Takes the standard port group "VM Network" away from host `host` (e.g. `DC0_C0_H1`),
    /// as `-hosts-without-vm-network` does at start: from its `network`, `config.network` and
    /// network system, and from the Network's `host`. Returns whether the host had it.
    pub fn remove_vm_network(&self, host: &str) -> Result<bool, String> {
        let q: String = host
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let (code, body) = self.http(
            "POST",
            &format!("/odt-test/remove-vm-network?host={q}"),
            None,
        )?;
        if code != 200 {
            return Err(format!("remove-vm-network: HTTP {code}: {}", body.trim()));
        }
        let v: serde_json::Value = serde_json::from_str(body.trim())
            .map_err(|e| format!("remove-vm-network: bad reply {body:?}: {e}"))?;
        Ok(v["removed"].as_bool().unwrap_or(false))
    }

    /// Posts one SOAP body (the element inside `soapenv:Body`) to `/sdk` with `curl` and
    /// returns (HTTP status, reply). `cookie` is the `vmware_soap_session` value, if any.
    pub fn soap(&self, body: &str, cookie: Option<&str>) -> Result<(u16, String), String> {
        self.soap_inner(body, cookie, None)
    }

    fn soap_inner(
        &self,
        body: &str,
        cookie: Option<&str>,
        dump_headers: Option<&str>,
    ) -> Result<(u16, String), String> {
        let envelope = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope \
             xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
        );
        let mut headers = vec![
            "Content-Type: text/xml; charset=\"utf-8\"".to_owned(),
            "SOAPAction: urn:vim25/6.5".to_owned(),
        ];
        if let Some(c) = cookie {
            headers.push(format!("Cookie: vmware_soap_session={c}"));
        }
        self.curl(
            "POST",
            "/sdk",
            &headers,
            Some(envelope.as_bytes()),
            dump_headers,
        )
    }

    /// `Login` through SOAP; returns the `vmware_soap_session` cookie value for [`Vcsim::soap`].
    pub fn login(&self, user: &str, password: &str) -> Result<String, String> {
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let body = format!(
            "<Login xmlns=\"urn:vim25\"><_this type=\"SessionManager\">SessionManager</_this>\
             <userName>{}</userName><password>{}</password></Login>",
            esc(user),
            esc(password)
        );
        let headers = self
            ._tmp
            .path()
            .join(format!("login-headers.{:?}", std::thread::current().id()));
        let hdr = headers.to_string_lossy().into_owned();
        let (code, reply) = self.soap_inner(&body, None, Some(&hdr))?;
        let dumped = std::fs::read_to_string(&headers).unwrap_or_default();
        let _ = std::fs::remove_file(&headers);
        if code != 200 {
            return Err(format!("Login: HTTP {code}: {reply}"));
        }
        dumped
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case("set-cookie"))
            .find_map(|(_, v)| v.trim().strip_prefix("vmware_soap_session="))
            .map(|v| v.split(';').next().unwrap_or("").to_owned())
            .ok_or_else(|| format!("Login: no vmware_soap_session cookie in {dumped:?}"))
    }

    /// A plain HTTP request to this server with `curl -k` (no cookie); returns (status, body).
    pub fn http(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(u16, String), String> {
        self.request(method, path, &[], body)
    }

    /// An HTTP request to `base() + path` with `curl -k` and extra `headers` ("Name: value");
    /// returns (status, body). A transport failure (connection dropped) is an `Err`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[String],
        body: Option<&[u8]>,
    ) -> Result<(u16, String), String> {
        self.curl(method, path, headers, body, None)
    }

    fn curl(
        &self,
        method: &str,
        path: &str,
        headers: &[String],
        body: Option<&[u8]>,
        dump_headers: Option<&str>,
    ) -> Result<(u16, String), String> {
        use std::io::Write;
        let mut c = Command::new("curl");
        c.args([
            "-sS",
            "-k",
            "-X",
            method,
            "-w",
            "\n%{http_code}",
            "--max-time",
            "60",
        ]);
        if let Some(d) = dump_headers {
            c.arg("-D").arg(d);
        }
        for h in headers {
            c.arg("-H").arg(h);
        }
        if body.is_some() {
            c.args(["--data-binary", "@-"]);
        }
        c.arg(format!("{}{path}", self.base()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut ch = c
            .spawn()
            .map_err(|e| format!("running curl (is it installed?): {e}"))?;
        let mut input = ch.stdin.take().expect("piped");
        if let Some(b) = body {
            input.write_all(b).map_err(|e| format!("curl stdin: {e}"))?;
        }
        drop(input);
        let out = ch.wait_with_output().map_err(|e| format!("curl: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "curl {method} {path}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        let code = code
            .trim()
            .parse()
            .map_err(|_| format!("curl printed no status: {text:?}"))?;
        Ok((code, body.to_owned()))
    }

    /// Stops the simulator (as dropping does) and returns its exit status.
    pub fn stop(mut self) -> Option<std::process::ExitStatus> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Option<std::process::ExitStatus> {
        drop(self.stdin.take()); // EOF: the simulator cleans up and exits
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => return Some(st),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => break,
            }
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

/// The odt-vcsim command line for `opts`: it captures to `capture`, keeps its datastores
/// under `dstmp`, logs to `logf` and prints its address on stdout.
fn vcsim_command(
    bin: &Path,
    opts: &Options,
    capture: &Path,
    dstmp: &Path,
    logf: std::fs::File,
) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("-capture")
        .arg(capture)
        .args(["-listen", "127.0.0.1:0"])
        .env("TMPDIR", dstmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(logf);
    if opts.tls {
        cmd.arg("-tls");
    }
    if let Some((u, p)) = &opts.login {
        cmd.arg("-user").arg(u).arg("-password").arg(p);
    }
    if let Some(n) = opts.nfc_fail_after {
        cmd.arg("-nfc-fail-after").arg(n.to_string());
    }
    cmd.args(&opts.args);
    cmd
}

/// Reads the simulator's JSON line on a thread, so a hung simulator cannot hang the test.
fn first_line(stdout: std::process::ChildStdout) -> mpsc::Receiver<std::io::Result<String>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        let res = r.read_line(&mut line).map(|_| line);
        let _ = tx.send(res);
        // Drain (nothing more is expected) until the simulator exits.
        let _ = std::io::copy(&mut r, &mut std::io::sink());
    });
    rx
}

impl Drop for Vcsim {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The last `n` lines of a file.
fn tail(p: &Path, n: usize) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(p) {
        let _ = f.read_to_string(&mut s);
    }
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
