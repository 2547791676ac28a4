//! Certificate checking for vCenter, ESXi and vCD: normal verification, thumbprint pinning,
//! or none. One policy for every server odt talks to.
//!
//! Why our own verifier: vCenter and ESXi usually present certificates signed by the VMware
//! Certificate Authority (or self-signed), which no public root store knows. The vSphere
//! tools' answer, which operators know, is the certificate's *thumbprint*: govmomi verifies
//! normally first and, failing that, accepts a certificate whose thumbprint was pinned; the
//! NFC URLs of a lease carry the ESXi host's SHA-1 thumbprint for the same reason. This module
//! does the same with rustls, and when it refuses a certificate it records the thumbprints the
//! server presented, so the error can tell the operator exactly what to pin.
//!
//! Roots for normal verification are the Mozilla set (webpki-roots, compiled in) plus the
//! system store (`/etc/ssl/certs`), so a VMCA root installed on the ODT node is honoured.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha1::Digest as _;

use super::{Result, WireError};

/// How to check the server's TLS certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Verify the chain and the host name against the Mozilla roots and the system store.
    Verify,
    /// Accept the certificate whose thumbprint this is, even when its chain or host name do
    /// not verify (a certificate that verifies normally is accepted too). The thumbprint is
    /// the SHA-1 (20 bytes) or SHA-256 (32 bytes) of the leaf certificate's DER, in hex, with
    /// or without colons, any case — as vCenter's UI, `govc about.cert` and `openssl x509
    /// -fingerprint` print it.
    Thumbprint(String),
    /// Accept any certificate (and skip the handshake signature check, which proves nothing
    /// without a trusted certificate). The connection is still encrypted but anyone on the
    /// path can read the password: for labs and simulators only.
    Insecure,
}

/// A parsed thumbprint: which digest, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// SHA-1 of the leaf certificate (what vSphere shows by default, and NFC URLs carry).
    Sha1([u8; 20]),
    /// SHA-256 of the leaf certificate.
    Sha256([u8; 32]),
}

impl Pin {
    /// Parses `AA:BB:…` / `aabb…` (SHA-1 or SHA-256).
    pub fn parse(s: &str) -> Result<Pin> {
        let cleaned: String = s
            .chars()
            .filter(|c| !matches!(c, ':' | ' ' | '-'))
            .collect();
        let bytes = hex::decode(&cleaned).map_err(|e| {
            WireError::new(
                "certificate thumbprint",
                format!(
                    "{s:?} is not hex ({e}); give the SHA-1 or SHA-256 thumbprint, e.g. AB:CD:…"
                ),
            )
        })?;
        match bytes.len() {
            20 => {
                let mut a = [0u8; 20];
                a.copy_from_slice(&bytes);
                Ok(Pin::Sha1(a))
            }
            32 => {
                let mut a = [0u8; 32];
                a.copy_from_slice(&bytes);
                Ok(Pin::Sha256(a))
            }
            n => Err(WireError::new(
                "certificate thumbprint",
                format!(
                    "{s:?} is {n} bytes; a SHA-1 thumbprint is 20 bytes (40 hex digits) and a \
                     SHA-256 thumbprint 32 bytes (64 hex digits)"
                ),
            )),
        }
    }

    /// True when `der` (a leaf certificate) has this thumbprint.
    pub fn matches(&self, der: &[u8]) -> bool {
        match self {
            Pin::Sha1(want) => sha1::Sha1::digest(der).as_slice() == want,
            Pin::Sha256(want) => sha2::Sha256::digest(der).as_slice() == want,
        }
    }
}

/// The SHA-1 and SHA-256 thumbprints of a DER certificate, as uppercase colon hex
/// (`AB:CD:…`), the way vSphere prints them.
pub fn thumbprints(der: &[u8]) -> (String, String) {
    (
        colon_hex(&sha1::Sha1::digest(der)),
        colon_hex(&sha2::Sha256::digest(der)),
    )
}

fn colon_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// Why the last handshake's certificate was refused, with its thumbprints.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// What was wrong.
    pub detail: String,
    /// SHA-1 thumbprint of the refused certificate.
    pub sha1: String,
    /// SHA-256 thumbprint.
    pub sha256: String,
    /// Whether pinning this thumbprint would make the server acceptable.
    pub pinnable: bool,
}

/// The certificate verifier of one HTTP client (a vCenter session's, its NFC transfers', or a
/// vCD session's): the mode, extra pins learnt at run time (NFC `sslThumbprint`s), and the last
/// refusal, kept so that an error can show the server's thumbprints.
pub struct Verifier {
    mode: TlsMode,
    pins: Vec<Pin>,
    extra: RwLock<Vec<Pin>>,
    webpki: OnceLock<std::result::Result<Arc<WebPkiServerVerifier>, String>>,
    provider: Arc<CryptoProvider>,
    refused: Mutex<Option<Refusal>>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("mode", &self.mode)
            .finish()
    }
}

impl Verifier {
    /// A verifier for `mode`.
    pub fn new(mode: &TlsMode) -> Result<Arc<Verifier>> {
        let pins = match mode {
            TlsMode::Thumbprint(t) => vec![Pin::parse(t)?],
            _ => Vec::new(),
        };
        Ok(Arc::new(Verifier {
            mode: mode.clone(),
            pins,
            extra: RwLock::new(Vec::new()),
            webpki: OnceLock::new(),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            refused: Mutex::new(None),
        }))
    }

    /// Also accept certificates with this thumbprint (an NFC host's, given by vCenter).
    pub(crate) fn add_pin(&self, pin: Pin) {
        if let Ok(mut v) = self.extra.write() {
            if !v.contains(&pin) {
                v.push(pin);
            }
        }
    }

    /// Takes the record of the last refused certificate, if any.
    pub fn take_refusal(&self) -> Option<Refusal> {
        self.refused.lock().ok().and_then(|mut r| r.take())
    }

    /// The rustls client configuration using this verifier.
    pub fn client_config(self: &Arc<Self>) -> Result<rustls::ClientConfig> {
        let cfg = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| WireError::new("TLS configuration", e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(self.clone())
            .with_no_client_auth();
        Ok(cfg)
    }

    fn webpki(&self) -> std::result::Result<&Arc<WebPkiServerVerifier>, &str> {
        self.webpki
            .get_or_init(|| {
                let mut roots = RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                let native = rustls_native_certs::load_native_certs();
                let _ = roots.add_parsable_certificates(native.certs);
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| e.as_str())
    }

    fn pinned(&self, der: &[u8]) -> bool {
        self.pins.iter().any(|p| p.matches(der))
            || self
                .extra
                .read()
                .map(|v| v.iter().any(|p| p.matches(der)))
                .unwrap_or(false)
    }

    /// The handshake-signature check shared by TLS 1.2 and 1.3: skipped under `--insecure`
    /// (nothing is trusted, so proving possession of the key proves nothing), else `verify`
    /// with the provider's algorithms, a failure explained by [`Self::signature_refused`].
    fn handshake_signature(
        &self,
        cert: &CertificateDer<'_>,
        verify: impl FnOnce(
            &rustls::crypto::WebPkiSupportedAlgorithms,
        ) -> std::result::Result<HandshakeSignatureValid, rustls::Error>,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        if self.mode == TlsMode::Insecure {
            return Ok(HandshakeSignatureValid::assertion());
        }
        verify(&self.provider.signature_verification_algorithms)
            .map_err(|e| self.signature_refused(cert, e))
    }

    /// The server's handshake signature did not verify with its (accepted) certificate. The
    /// usual cause is not an attack but a weak key: the pin says which certificate to trust,
    /// yet the server must still prove it holds that certificate's key, and RSA keys under
    /// 2048 bits (vcsim's built-in test certificate has 1024) are refused for that.
    fn signature_refused(&self, cert: &CertificateDer<'_>, e: rustls::Error) -> rustls::Error {
        self.refuse_with(
            cert.as_ref(),
            format!(
                "the server's handshake signature could not be verified with its certificate \
                 ({}); certificates with RSA keys shorter than 2048 bits are refused: give the \
                 server a stronger certificate",
                describe(&e)
            ),
            false,
        )
    }

    fn refuse(&self, der: &[u8], detail: String) -> rustls::Error {
        self.refuse_with(der, detail, true)
    }

    fn refuse_with(&self, der: &[u8], detail: String, pinnable: bool) -> rustls::Error {
        let (sha1, sha256) = thumbprints(der);
        if let Ok(mut r) = self.refused.lock() {
            *r = Some(Refusal {
                detail: detail.clone(),
                sha1,
                sha256,
                pinnable,
            });
        }
        rustls::Error::General(detail)
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if self.mode == TlsMode::Insecure || self.pinned(end_entity.as_ref()) {
            return Ok(ServerCertVerified::assertion());
        }
        let webpki = match self.webpki() {
            Ok(v) => v,
            Err(e) => {
                return Err(self.refuse(end_entity.as_ref(), format!("no trusted roots: {e}")))
            }
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Ok(v) => Ok(v),
            Err(e) => {
                let detail = if self.pins.is_empty() {
                    describe(&e)
                } else {
                    format!(
                        "it does not match the pinned thumbprint, and it does not verify either \
                         ({})",
                        describe(&e)
                    )
                };
                Err(self.refuse(end_entity.as_ref(), detail))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.handshake_signature(cert, |algs| {
            rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
        })
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.handshake_signature(cert, |algs| {
            rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
        })
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn describe(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => {
                "it is not signed by a trusted authority (self-signed or VMCA)".into()
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "it is not valid for this host name".into()
            }
            C::Expired | C::ExpiredContext { .. } => "it has expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet".into(),
            C::Other(o) if format!("{o:?}").contains("CaUsedAsEndEntity") => {
                "it is a self-signed CA certificate, not one issued by a trusted authority".into()
            }
            other => format!("{other:?}"),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_in_any_spelling() {
        let der = b"not really a certificate";
        let (s1, s256) = thumbprints(der);
        assert_eq!(s1.len(), 20 * 3 - 1);
        assert_eq!(s256.len(), 32 * 3 - 1);
        for s in [
            s1.clone(),
            s1.to_lowercase(),
            s1.replace(':', ""),
            s256.clone(),
        ] {
            assert!(Pin::parse(&s).unwrap().matches(der), "{s}");
        }
        assert!(!Pin::parse(&s1).unwrap().matches(b"other"));
        let e = Pin::parse("AB:CD").unwrap_err().to_string();
        assert!(e.contains("2 bytes"), "{e}");
        assert!(Pin::parse("zz").is_err());
    }

    #[test]
    fn refusal_records_thumbprints() {
        let v = Verifier::new(&TlsMode::Verify).unwrap();
        let _ = v.refuse(b"cert", "test".into());
        let r = v.take_refusal().unwrap();
        assert_eq!(r.sha1, thumbprints(b"cert").0);
        assert!(v.take_refusal().is_none());
    }
}
