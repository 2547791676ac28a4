//! Certificate checking for vCD, with the same three modes as the vSphere client
//! ([`TlsMode`]): verify (Mozilla roots plus the system store), a pinned SHA-1/SHA-256
//! thumbprint, or none. A refused certificate's thumbprints are recorded so the error can
//! tell the operator exactly what to pin.
//!
//! Why not the vSphere client's verifier: it is private to `odt-format`. This is the same
//! policy in a few lines, built on the public [`Pin`] and [`thumbprints`].

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use odt_format::vsphere::tls::{thumbprints, Pin, TlsMode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::error::{Result, VcdError};

/// A refused certificate: why, and its SHA-1 and SHA-256 thumbprints.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub(crate) detail: String,
    pub(crate) sha1: String,
    pub(crate) sha256: String,
}

#[derive(Debug)]
pub(crate) struct Verifier {
    mode: TlsMode,
    pin: Option<Pin>,
    provider: Arc<CryptoProvider>,
    webpki: OnceLock<std::result::Result<Arc<WebPkiServerVerifier>, String>>,
    refused: Mutex<Option<Refusal>>,
}

impl Verifier {
    pub(crate) fn new(mode: &TlsMode) -> Result<Arc<Verifier>> {
        let pin = match mode {
            TlsMode::Thumbprint(t) => Some(
                Pin::parse(t)
                    .map_err(|e| VcdError::invalid("vCD certificate thumbprint", e.to_string()))?,
            ),
            _ => None,
        };
        Ok(Arc::new(Verifier {
            mode: mode.clone(),
            pin,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            webpki: OnceLock::new(),
            refused: Mutex::new(None),
        }))
    }

    pub(crate) fn take_refusal(&self) -> Option<Refusal> {
        self.refused.lock().ok().and_then(|mut r| r.take())
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

    fn refuse(&self, der: &[u8], detail: String) -> rustls::Error {
        let (sha1, sha256) = thumbprints(der);
        if let Ok(mut r) = self.refused.lock() {
            *r = Some(Refusal {
                detail: detail.clone(),
                sha1,
                sha256,
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
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if self.mode == TlsMode::Insecure
            || self
                .pin
                .as_ref()
                .is_some_and(|p| p.matches(end_entity.as_ref()))
        {
            return Ok(ServerCertVerified::assertion());
        }
        let webpki = match self.webpki() {
            Ok(v) => v,
            Err(e) => {
                return Err(self.refuse(end_entity.as_ref(), format!("no trusted roots: {e}")))
            }
        };
        webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .map_err(|e| {
                let why = match &e {
                    rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
                        "it is not signed by a trusted authority (self-signed?)".to_owned()
                    }
                    rustls::Error::InvalidCertificate(c) => format!("{c:?}"),
                    other => other.to_string(),
                };
                let detail = if self.pin.is_some() {
                    format!("it does not match the pinned thumbprint, and {why}")
                } else {
                    why
                };
                self.refuse(end_entity.as_ref(), detail)
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        if self.mode == TlsMode::Insecure {
            return Ok(HandshakeSignatureValid::assertion());
        }
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        if self.mode == TlsMode::Insecure {
            return Ok(HandshakeSignatureValid::assertion());
        }
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The HTTP client for one vCD: our verifier, no redirects (a redirect would carry the
/// token elsewhere), bounded connect and request times.
pub(crate) fn http_client(
    verifier: &Arc<Verifier>,
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<reqwest::blocking::Client> {
    let cfg = rustls::ClientConfig::builder_with_provider(verifier.provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| VcdError::invalid("TLS configuration", e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    reqwest::blocking::Client::builder()
        .use_preconfigured_tls(cfg)
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("odt/", env!("CARGO_PKG_VERSION"), " (vcd)"))
        .build()
        .map_err(|e| VcdError::invalid("HTTP client", e.to_string()))
}
