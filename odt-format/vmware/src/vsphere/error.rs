//! Errors of the vSphere client.
//!
//! Policy: every variant says *what* failed and *where* — the vim method, the managed object,
//! the URL — and, where the operator can do something, what. URLs are always shown without
//! user info (credentials) and with NFC tickets cut out of the path, because the ticket in an
//! NFC URL is itself a credential for the disk. The three tiers of object_store are kept
//! apart: the transport ([`VimError::Transport`], [`VimError::Tls`]), the HTTP reply
//! ([`VimError::Http`]), and vim's own meaning ([`VimError::Fault`], [`VimError::Task`],
//! [`VimError::Lease`]). Faults keep their vim type name (`InvalidLogin`, `DuplicateName`, …)
//! so callers can branch on [`VimError::fault_type`] without parsing messages.

use super::xml::Element;
use crate::wire::{chain, thumbprint_advice, WireError};

/// Result alias for the vSphere client.
pub type Result<T, E = VimError> = std::result::Result<T, E>;

/// Everything that can go wrong talking to vCenter or ESXi.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VimError {
    /// The server answered with an HTTP status that is neither success nor a SOAP fault.
    #[error("{url}: HTTP {status}{}", excerpt_suffix(body))]
    Http {
        /// The URL, without credentials.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The first few hundred characters of the reply body, control characters removed.
        body: String,
    },
    /// The request could not be sent or the reply not received (DNS, connect, reset,
    /// timeout).
    #[error("{url}: {}", chain(cause.as_ref()))]
    Transport {
        /// The URL, without credentials.
        url: String,
        /// The underlying error (a `reqwest::Error` with its own copy of the URL removed, or
        /// the `std::io::Error` of reading a reply). Its chain is in the message, so it is
        /// not also a `source()`: a chain printer would show it twice.
        cause: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The body given to an upload failed while it was being sent (for an odt import: the
    /// decrypting reader found a damaged chunk, or the NAS failed). `cause` is the reader's
    /// own error, so the caller can downcast `cause.get_ref()` back to its type; it is in the
    /// message, so not also a `source()`.
    #[error("{url}: reading the upload body failed: {cause}")]
    Body {
        /// The upload URL, without credentials or ticket.
        url: String,
        /// The error the body reader returned.
        cause: std::io::Error,
    },
    /// A vim method returned a SOAP fault.
    #[error(
        "{method}: {fault_type}{}{}",
        message_suffix(fault_type, message),
        fault_hint(fault_type)
    )]
    Fault {
        /// The vim method that failed (`Login`, `ImportVApp`, …).
        method: String,
        /// The fault's vim type (`InvalidLogin`, `NotAuthenticated`, `DuplicateName`, …), or
        /// the SOAP `faultcode` when the reply carries no typed detail.
        fault_type: String,
        /// The fault string (may repeat the type when the server sent none).
        message: String,
        /// The typed fault detail (e.g. `<InvalidPowerStateFault>` with `existingState`).
        detail: Option<Box<Element>>,
    },
    /// A reply was not well-formed XML, or not the shape vim25 describes.
    #[error("{what}: {detail}")]
    Xml {
        /// What was being read ("RetrievePropertiesEx reply", "HttpNfcLease info", …).
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The server's TLS certificate was not accepted.
    #[error("{url}: TLS certificate not accepted: {detail}{}", thumbprint_advice(sha1.as_deref(), sha256.as_deref(), *pinnable))]
    Tls {
        /// The URL, without credentials.
        url: String,
        /// Why the certificate was refused.
        detail: String,
        /// SHA-1 thumbprint of the certificate the server presented (`AA:BB:…`), when one was
        /// seen.
        sha1: Option<String>,
        /// SHA-256 thumbprint of that certificate.
        sha256: Option<String>,
        /// Whether pinning the thumbprint would get past this (false when the certificate
        /// was accepted but the server could not prove it holds its key).
        pinnable: bool,
    },
    /// Something named does not exist in the inventory.
    #[error("{what} not found{}", choices_suffix(choices))]
    NotFound {
        /// What was looked for, with where ("cluster \"C1\" in datacenter \"DC0\"").
        what: String,
        /// What exists instead, so the operator can pick one (may be empty).
        choices: Vec<String>,
    },
    /// A placement choice was left out but the inventory has more than one candidate.
    #[error("more than one {what}: {}; name the one to use", choices.join(", "))]
    Ambiguous {
        /// The kind of thing ("datacenter", "cluster or host", "datastore").
        what: String,
        /// The candidates.
        choices: Vec<String>,
    },
    /// An HttpNfcLease went to `error` (or `done`) instead of `ready`, or was used after.
    #[error("HttpNfcLease {lease} is {state}{}", message_suffix(state, message))]
    Lease {
        /// The lease's moref value.
        lease: String,
        /// The lease state seen (`error`, `done`).
        state: String,
        /// The lease's `error.localizedMessage`, or what happened.
        message: String,
    },
    /// A vim task ended in `error`.
    #[error(
        "task {task} ({op}) failed: {fault_type}{}",
        message_suffix(fault_type, message)
    )]
    Task {
        /// The task's moref value.
        task: String,
        /// What the task was doing (the vim method, e.g. `Destroy_Task`).
        op: String,
        /// The fault type of `info.error`.
        fault_type: String,
        /// `info.error.localizedMessage`.
        message: String,
    },
    /// Waiting for a lease or task took longer than allowed.
    #[error("{what}: still not finished after {seconds} s")]
    Timeout {
        /// What was being waited for.
        what: String,
        /// How long we waited.
        seconds: u64,
    },
    /// The caller asked for something that cannot be done as asked (a malformed URL or
    /// thumbprint, an import spec that carries errors).
    #[error("{what}: {detail}")]
    Invalid {
        /// The argument or object at fault.
        what: String,
        /// Why, and what to do.
        detail: String,
    },
}

fn excerpt_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

fn message_suffix(kind: &str, message: &str) -> String {
    if message.is_empty() || message == kind {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// " (there is: a, b)" listing what does exist, for "no such …" errors; empty when nothing does.
/// The vCD client words its lookups the same way.
pub fn choices_suffix(choices: &[String]) -> String {
    if choices.is_empty() {
        String::new()
    } else {
        format!(" (there is: {})", choices.join(", "))
    }
}

fn fault_hint(fault_type: &str) -> &'static str {
    match fault_type {
        "InvalidLogin" => " (check the user name and password)",
        "NotAuthenticated" => " (the session ended or was never opened: log in again)",
        "NoPermission" => " (the user lacks a privilege for this: grant it or use another user)",
        _ => "",
    }
}

impl VimError {
    /// The vim fault type of a [`VimError::Fault`] or [`VimError::Task`]
    /// (e.g. `"InvalidLogin"`, `"DuplicateName"`), else `None`.
    pub fn fault_type(&self) -> Option<&str> {
        match self {
            VimError::Fault { fault_type, .. } | VimError::Task { fault_type, .. } => {
                Some(fault_type)
            }
            _ => None,
        }
    }

    /// True when the error means the credentials or the session are not good: a wrong user
    /// or password, an expired session, a missing privilege, or HTTP 401/403.
    pub fn is_auth(&self) -> bool {
        match self {
            VimError::Fault { fault_type, .. } => matches!(
                fault_type.as_str(),
                "InvalidLogin" | "NotAuthenticated" | "NoPermission"
            ),
            VimError::Http { status, .. } => matches!(status, 401 | 403),
            _ => false,
        }
    }

    /// True when trying the same request again later may succeed (connection refused or
    /// reset, timeouts, HTTP 502/503/504). vim methods that change state must not be retried
    /// blindly even then: the first attempt may have been carried out.
    pub fn is_retryable(&self) -> bool {
        match self {
            VimError::Transport { cause, .. } => match cause.downcast_ref::<reqwest::Error>() {
                Some(e) => e.is_connect() || e.is_timeout(),
                None => cause.downcast_ref::<std::io::Error>().is_some_and(|e| {
                    matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionReset
                            | std::io::ErrorKind::ConnectionAborted
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::UnexpectedEof
                    )
                }),
            },
            VimError::Http { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }

    /// Builds a [`VimError::Xml`].
    pub fn xml(what: impl Into<String>, detail: impl Into<String>) -> Self {
        VimError::Xml {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// Builds a [`VimError::Invalid`].
    pub fn invalid(what: impl Into<String>, detail: impl Into<String>) -> Self {
        VimError::Invalid {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

impl From<WireError> for VimError {
    fn from(e: WireError) -> Self {
        VimError::Invalid {
            what: e.what,
            detail: e.detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_classification() {
        let f = |t: &str| VimError::Fault {
            method: "Login".into(),
            fault_type: t.into(),
            message: String::new(),
            detail: None,
        };
        assert!(f("InvalidLogin").is_auth());
        assert!(f("NotAuthenticated").is_auth());
        assert!(!f("DuplicateName").is_auth());
        assert_eq!(f("DuplicateName").fault_type(), Some("DuplicateName"));
        let msg = f("InvalidLogin").to_string();
        assert!(msg.contains("Login: InvalidLogin"), "{msg}");
        assert!(msg.contains("password"), "{msg}");
    }
}
