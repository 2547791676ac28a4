//! The one HTTP client builder, and the two things every request needs afterwards: telling a
//! refused certificate from a network failure, and reading a reply within a cap.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use super::tls::{Refusal, Verifier};
use super::{Result, WireError};

/// How one HTTP client behaves besides its certificate checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpOptions {
    /// How long to wait for a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// How long one request may take in total; `None` for transfers, where a disk takes as
    /// long as it takes.
    pub timeout: Option<Duration>,
    /// The `User-Agent`, which names the client (`odt/1.2.3 (vim25)`), so a server's logs
    /// tell odt's requests apart.
    pub user_agent: &'static str,
}

/// Builds a blocking HTTP client that checks certificates with `verifier`, never follows a
/// redirect (it would carry a session cookie or token to another host) and keeps to the
/// times in `opts`.
pub fn http_client(
    verifier: &Arc<Verifier>,
    opts: &HttpOptions,
) -> Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .use_preconfigured_tls(verifier.client_config()?)
        .connect_timeout(opts.connect_timeout)
        .timeout(opts.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(opts.user_agent)
        .build()
        .map_err(|e| WireError::new("HTTP client", e.to_string()))
}

/// Why a request could not be sent.
#[derive(Debug)]
pub enum SendFailure {
    /// The verifier refused the server's certificate: what to show, and the thumbprints.
    Refused(Refusal),
    /// Anything else (DNS, connect, reset, timeout), with reqwest's copy of the URL removed
    /// so the caller shows its own redacted one.
    Transport(reqwest::Error),
}

/// Classifies the error of a request sent through a client built on `verifier`: a refused
/// certificate surfaces in rustls only as a generic handshake failure, so the verifier's own
/// record of the refusal is what says which certificate it was.
pub fn explain(verifier: &Verifier, e: reqwest::Error) -> SendFailure {
    match verifier.take_refusal() {
        Some(r) => SendFailure::Refused(r),
        None => SendFailure::Transport(e.without_url()),
    }
}

/// Reads `reply` to its end but never more than `limit + 1` bytes, so the caller can tell a
/// reply over its cap (longer than `limit`) from one that fits, without holding more.
pub fn read_capped(reply: impl Read, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    reply.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_byte_past_the_cap() {
        assert_eq!(read_capped(&b"abcdef"[..], 3).unwrap(), b"abcd");
        assert_eq!(read_capped(&b"ab"[..], 3).unwrap(), b"ab");
    }
}
