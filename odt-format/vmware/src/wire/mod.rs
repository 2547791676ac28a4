//! The one HTTP/TLS layer under both clients: how a connection is made, how a server's
//! certificate is judged, what of a URL or a reply may be shown, and which requests may be
//! sent twice.
//!
//! Both the vSphere client and the vCD client talk HTTPS to servers whose certificates no
//! public root store knows, carry credentials in their URLs or headers, and must explain a
//! failure without echoing either. Written once here, so the two cannot drift apart in
//! their limits or their wording:
//!
//! - [`tls`]: [`TlsMode`] (verify / pinned thumbprint / insecure) and the rustls verifier
//!   that records what it refused, so errors can name the thumbprint to pin;
//! - [`http`]: the one HTTP client builder (our verifier, no redirects, bounded times) and
//!   reading replies within a cap;
//! - [`redact`]: URLs made safe to show (no user info, no NFC ticket);
//! - [`retry`]: the retry table: which requests are resent, on what, after how long.
//!
//! Errors here are configuration errors ([`WireError`]); each client turns them into its own
//! error type, with the same text.

pub mod http;
pub mod redact;
pub mod retry;
pub mod tls;

pub use http::{explain, http_client, read_capped, HttpOptions, SendFailure};
pub use redact::{redact_url, redact_url_keep_query};
pub use retry::{Backoff, Call, Retries};
pub use tls::{thumbprints, Pin, Refusal, TlsMode, Verifier};

/// Result alias for the wire layer.
pub type Result<T, E = WireError> = std::result::Result<T, E>;

/// Something the wire layer cannot set up as asked: a malformed thumbprint, a TLS or HTTP
/// client that cannot be built. Shown as `what: detail`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {detail}")]
pub struct WireError {
    /// What could not be set up ("certificate thumbprint", "TLS configuration", …).
    pub what: String,
    /// Why, and what to do.
    pub detail: String,
}

impl WireError {
    /// A [`WireError`] about `what`.
    pub fn new(what: impl Into<String>, detail: impl Into<String>) -> Self {
        WireError {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// A short, printable excerpt of a reply body for error messages: at most 300 characters,
/// control characters removed and runs of white space collapsed, so a proxy's HTML page or a
/// stack trace cannot flood or garble the terminal.
pub fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX * 4)]);
    let mut out = String::new();
    for c in text.chars() {
        if out.chars().count() >= MAX {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An error and its causes, `a: b: c`, skipping causes whose text the previous one already
/// contains (reqwest and hyper repeat themselves).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

/// What to tell the operator after a certificate was refused: the thumbprints the server
/// presented and whether pinning one would help (it does not when the server could not
/// prove it holds the certificate's key), or, with no certificate seen, what the choices are.
/// Both clients append it to their TLS errors.
pub fn thumbprint_advice(sha1: Option<&str>, sha256: Option<&str>, pinnable: bool) -> String {
    match (sha1, sha256) {
        (Some(s1), Some(s256)) if !pinnable => format!(
            ". The server presented a certificate with SHA-256 thumbprint {s256} (SHA-1 {s1}); \
             pinning it does not help, only turning certificate verification off (insecure) \
             does"
        ),
        (Some(s1), Some(s256)) => format!(
            ". The server presented a certificate with SHA-256 thumbprint {s256} (SHA-1 {s1}); \
             if that is the expected certificate (check it on the server), pin that thumbprint, \
             or turn certificate verification off (insecure)"
        ),
        _ => ". Pin the server certificate's thumbprint, or turn certificate verification \
               off (insecure)"
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_is_short_and_clean() {
        let body = format!("<a>\n\t{}</a>", "x".repeat(1000));
        let e = excerpt(body.as_bytes());
        assert!(e.chars().count() <= 301 + 1);
        assert!(!e.contains('\n'));
    }

    #[test]
    fn advice_says_whether_a_pin_helps() {
        let a = thumbprint_advice(Some("AA"), Some("BB"), true);
        assert!(a.contains("SHA-256 thumbprint BB (SHA-1 AA)") && a.contains("pin that"));
        let a = thumbprint_advice(Some("AA"), Some("BB"), false);
        assert!(a.contains("pinning it does not help"), "{a}");
        assert!(thumbprint_advice(None, None, true).contains("Pin the server"));
    }
}
