//! Certificate checking for vCD: the vSphere client's verifier (one policy for both: verify
//! against the Mozilla roots and the system store, a pinned SHA-1/SHA-256 thumbprint, or
//! none), whose record of a refused certificate lets the error tell the operator exactly what
//! to pin.

use std::sync::Arc;
use std::time::Duration;

pub(crate) use crate::vsphere::tls::Verifier;

use super::error::{Result, VcdError};

/// The HTTP client for one vCD: our verifier, no redirects (a redirect would carry the
/// token elsewhere), bounded connect and request times.
pub(crate) fn http_client(
    verifier: &Arc<Verifier>,
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<reqwest::blocking::Client> {
    let cfg = verifier
        .client_config()
        .map_err(|e| VcdError::invalid("TLS configuration", e.to_string()))?;
    reqwest::blocking::Client::builder()
        .use_preconfigured_tls(cfg)
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("odt/", env!("CARGO_PKG_VERSION"), " (vcd)"))
        .build()
        .map_err(|e| VcdError::invalid("HTTP client", e.to_string()))
}
