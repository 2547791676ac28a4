//! Errors of the vCloud Director client.
//!
//! Policy (as for the vSphere client): every variant says *what* failed and *where* — the
//! HTTP method and URL (never with credentials), the task and its operation — and keeps
//! vCD's own codes (`majorErrorCode`, `minorErrorCode` such as `DUPLICATE_NAME` or
//! `BUSY_ENTITY`) so callers branch on [`VcdError::minor_code`] instead of parsing messages.

use crate::vsphere::error::choices_suffix;
use crate::vsphere::xml::Element;
use crate::wire::{chain, thumbprint_advice, WireError};

/// Result alias for the vCD client.
pub type Result<T, E = VcdError> = std::result::Result<T, E>;

/// Everything that can go wrong talking to vCloud Director.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VcdError {
    /// vCD answered with a vcloud `Error` body (XML `Error` or the cloudapi JSON error).
    #[error("{0}")]
    Api(Box<ApiError>),
    /// An HTTP status that is not a success and carries no vcloud `Error` (a proxy, a crash
    /// page, an empty 503).
    #[error("{method} {url}: HTTP {status}{}", excerpt_suffix(body))]
    Http {
        /// HTTP method.
        method: String,
        /// The URL, without credentials.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The first few hundred characters of the body.
        body: String,
    },
    /// The request could not be sent or the reply not read (DNS, connect, reset, timeout).
    #[error("{method} {url}: {}", chain(cause.as_ref()))]
    Transport {
        /// HTTP method.
        method: String,
        /// The URL, without credentials.
        url: String,
        /// The underlying error; its chain is in the message, so not also a `source()`.
        cause: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The server's TLS certificate was not accepted.
    #[error(
        "{url}: TLS certificate not accepted: {detail}{}",
        thumbprint_advice(Some(sha1), Some(sha256), *pinnable)
    )]
    Tls {
        /// The URL, without credentials.
        url: String,
        /// Why the certificate was refused.
        detail: String,
        /// SHA-1 thumbprint of the certificate presented (`AA:BB:…`).
        sha1: String,
        /// SHA-256 thumbprint of the certificate presented.
        sha256: String,
        /// Whether pinning the thumbprint would get past this (false when the certificate
        /// was accepted but the server could not prove it holds its key).
        pinnable: bool,
    },
    /// Logging in failed: wrong user or password (HTTP 401 on the login request).
    #[error(
        "{url}: vCD refused the login of {user}{}: check the user (name@System) and the password",
        message_suffix(message)
    )]
    Login {
        /// The login URL, without credentials.
        url: String,
        /// The user name (`name@System`).
        user: String,
        /// What vCD said, if anything.
        message: String,
    },
    /// The user logged in but is not a system administrator (the import actions and the
    /// vimServer extension need one).
    #[error(
        "{user} is logged in to organization {org:?}, not System: importing VMs needs a vCD \
         system administrator (log in as name@System)"
    )]
    NotSysadmin {
        /// The user.
        user: String,
        /// The organization of the session.
        org: String,
    },
    /// No API version both sides speak.
    #[error("{url}: {detail}")]
    Version {
        /// The versions URL.
        url: String,
        /// What was offered and what we need.
        detail: String,
    },
    /// A reply was not well-formed XML or JSON, or not the shape the vCD API describes.
    #[error("{what} from {url}: {detail}")]
    Malformed {
        /// What was being read ("Session", "Task", "QueryResultRecords", …).
        what: String,
        /// Where it came from, without credentials.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A vCD task ended in `error`, `canceled` or `aborted`.
    #[error("{0}")]
    Task(Box<TaskError>),
    /// A task did not finish in time. It may still finish on the server.
    #[error(
        "vCD task {operation:?} still {status} after {seconds} s (task {task}); it may still \
         finish: look at it in vCD before retrying"
    )]
    TaskTimeout {
        /// What the task was doing.
        operation: String,
        /// The last status seen.
        status: String,
        /// How long we waited.
        seconds: u64,
        /// The task's href, without credentials.
        task: String,
    },
    /// Something that must exist does not (a link, a section, a VM in a vApp).
    #[error("{what} not found{}", choices_suffix(choices))]
    NotFound {
        /// What was looked for, and where.
        what: String,
        /// What exists instead (may be empty).
        choices: Vec<String>,
    },
    /// More than one object matches where one was expected.
    #[error("more than one {what}: {}", choices.join(", "))]
    Ambiguous {
        /// What was looked for.
        what: String,
        /// The candidates.
        choices: Vec<String>,
    },
    /// The request cannot be made as asked (bad URL, conflicting state, bad argument).
    #[error("{what}: {detail}")]
    Invalid {
        /// The argument or object at fault.
        what: String,
        /// Why, and what to do.
        detail: String,
    },
}

/// A vcloud `Error` reply: where, the HTTP status, and vCD's codes and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{method} {url}: HTTP {status}{}: {message}{}{}",
    code_suffix(minor_error_code.as_deref()),
    request_id_suffix(request_id.as_deref()),
    api_hint(*status, minor_error_code.as_deref())
)]
pub struct ApiError {
    /// `GET`, `POST`, `PUT`, `DELETE`.
    pub method: String,
    /// The URL, without credentials.
    pub url: String,
    /// The HTTP status.
    pub status: u16,
    /// `Error@majorErrorCode` (vCD sets it to the HTTP status).
    pub major_error_code: Option<u16>,
    /// `Error@minorErrorCode` (`DUPLICATE_NAME`, `BUSY_ENTITY`, `BAD_REQUEST`, …).
    pub minor_error_code: Option<String>,
    /// `Error@message`.
    pub message: String,
    /// `X-VMWARE-VCLOUD-REQUEST-ID`, to find the request in vCD's logs.
    pub request_id: Option<String>,
}

/// A task that ended in `error`, `canceled` or `aborted`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "vCD task {operation:?} {status}{}{}: {message} (task {task})",
    code_suffix(minor_error_code.as_deref()),
    owner_suffix(owner.as_deref())
)]
pub struct TaskError {
    /// What the task was doing (`Task@operation`, else `@operationName`).
    pub operation: String,
    /// `error`, `canceled` or `aborted`.
    pub status: String,
    /// The task's `Error@message` (or a description of the status).
    pub message: String,
    /// The task's `Error@majorErrorCode`.
    pub major_error_code: Option<u16>,
    /// The task's `Error@minorErrorCode`.
    pub minor_error_code: Option<String>,
    /// The task's href, without credentials.
    pub task: String,
    /// The task's `Owner@name` (or href): the entity it was working on.
    pub owner: Option<String>,
}

impl VcdError {
    /// vCD's `minorErrorCode` of an [`VcdError::Api`] or [`VcdError::Task`] error
    /// (`"DUPLICATE_NAME"`, `"BUSY_ENTITY"`, `"ACCESS_TO_RESOURCE_IS_FORBIDDEN"`, …).
    pub fn minor_code(&self) -> Option<&str> {
        match self {
            VcdError::Api(e) => e.minor_error_code.as_deref(),
            VcdError::Task(e) => e.minor_error_code.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status of an [`VcdError::Api`] or [`VcdError::Http`] error.
    pub fn status(&self) -> Option<u16> {
        match self {
            VcdError::Api(e) => Some(e.status),
            VcdError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for "no such entity": HTTP 404, or 403 `ACCESS_TO_RESOURCE_IS_FORBIDDEN` (what vCD
    /// answers for an id that does not exist), or [`VcdError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        match self {
            VcdError::NotFound { .. } => true,
            VcdError::Api(e) => {
                e.status == 404
                    || (e.status == 403
                        && e.minor_error_code.as_deref() == Some("ACCESS_TO_RESOURCE_IS_FORBIDDEN"))
            }
            VcdError::Http { status, .. } => *status == 404,
            _ => false,
        }
    }

    /// True when the entity was busy with another task (`BUSY_ENTITY`): retry after it ends.
    pub fn is_busy(&self) -> bool {
        self.minor_code() == Some("BUSY_ENTITY")
    }

    pub(crate) fn malformed(
        what: impl Into<String>,
        url: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        VcdError::Malformed {
            what: what.into(),
            url: url.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, detail: impl Into<String>) -> Self {
        VcdError::Invalid {
            what: what.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn not_found(what: impl Into<String>, choices: Vec<String>) -> Self {
        VcdError::NotFound {
            what: what.into(),
            choices,
        }
    }
}

impl From<WireError> for VcdError {
    fn from(e: WireError) -> Self {
        VcdError::Invalid {
            what: e.what,
            detail: e.detail,
        }
    }
}

/// vCD's `Error` element (or the cloudapi JSON error), as parsed from a reply or a task.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiErrorBody {
    /// `message`.
    pub message: String,
    /// `majorErrorCode`.
    pub major_error_code: Option<u16>,
    /// `minorErrorCode`.
    pub minor_error_code: Option<String>,
    /// `vendorSpecificErrorCode`.
    pub vendor_specific_error_code: Option<String>,
}

fn nonempty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

impl ApiErrorBody {
    /// Reads a vcloud `Error` element (attributes `message`, `majorErrorCode`,
    /// `minorErrorCode`, `vendorSpecificErrorCode`).
    pub fn from_element(e: &Element) -> ApiErrorBody {
        ApiErrorBody {
            message: e.attr("message").unwrap_or_default().trim().to_owned(),
            major_error_code: nonempty(e.attr("majorErrorCode")).and_then(|s| s.parse().ok()),
            minor_error_code: nonempty(e.attr("minorErrorCode")).map(str::to_owned),
            vendor_specific_error_code: nonempty(e.attr("vendorSpecificErrorCode"))
                .map(str::to_owned),
        }
    }

    /// Parses an error reply body: an XML `Error` root (any namespace prefix), or the
    /// cloudapi JSON error (`{"minorErrorCode": …, "message": …}`). `None` when the body is
    /// neither.
    pub fn parse(body: &[u8]) -> Option<ApiErrorBody> {
        let trimmed = body.trim_ascii_start();
        if trimmed.starts_with(b"{") {
            let v: serde_json::Value = serde_json::from_slice(trimmed).ok()?;
            let message = v.get("message")?.as_str()?.to_owned();
            return Some(ApiErrorBody {
                message,
                major_error_code: v
                    .get("majorErrorCode")
                    .and_then(|m| m.as_u64().or_else(|| m.as_str()?.parse().ok()))
                    .and_then(|m| u16::try_from(m).ok()),
                minor_error_code: v
                    .get("minorErrorCode")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned),
                vendor_specific_error_code: None,
            });
        }
        let root = Element::parse(body).ok()?;
        (root.name == "Error").then(|| ApiErrorBody::from_element(&root))
    }
}

fn code_suffix(minor: Option<&str>) -> String {
    minor.map(|m| format!(" {m}")).unwrap_or_default()
}

fn owner_suffix(owner: Option<&str>) -> String {
    owner.map(|o| format!(" on {o}")).unwrap_or_default()
}

fn request_id_suffix(id: Option<&str>) -> String {
    id.map(|i| format!(" (request id {i})")).unwrap_or_default()
}

fn message_suffix(m: &str) -> String {
    if m.is_empty() {
        String::new()
    } else {
        format!(" ({m})")
    }
}

fn excerpt_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

fn api_hint(status: u16, minor: Option<&str>) -> &'static str {
    match (status, minor) {
        (_, Some("DUPLICATE_NAME")) => " (pick another name or remove the existing entity)",
        (_, Some("BUSY_ENTITY")) => " (another task is running on it: wait for it, then retry)",
        (403, Some("ACCESS_TO_RESOURCE_IS_FORBIDDEN")) => {
            " (the entity does not exist, or this user may not see it)"
        }
        (401, _) => " (the session expired or was ended: log in again)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_xml_and_json_errors() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error xmlns="http://www.vmware.com/vcloud/v1.5" minorErrorCode="DUPLICATE_NAME" message="The VCD entity web already exists." majorErrorCode="400" stackTrace="x"/>"#;
        let e = ApiErrorBody::parse(xml).unwrap();
        assert_eq!(e.major_error_code, Some(400));
        assert_eq!(e.minor_error_code.as_deref(), Some("DUPLICATE_NAME"));
        assert_eq!(e.message, "The VCD entity web already exists.");
        let prefixed = br#"<vcloud:Error xmlns:vcloud="http://www.vmware.com/vcloud/v1.5" majorErrorCode="403" minorErrorCode="ACCESS_TO_RESOURCE_IS_FORBIDDEN" message="No access to entity &quot;x&quot;."/>"#;
        let e = ApiErrorBody::parse(prefixed).unwrap();
        assert_eq!(e.message, "No access to entity \"x\".");
        let json = br#"{"minorErrorCode":"UNAUTHORIZED","message":"Bad creds","stackTrace":null}"#;
        let e = ApiErrorBody::parse(json).unwrap();
        assert_eq!(e.minor_error_code.as_deref(), Some("UNAUTHORIZED"));
        assert!(ApiErrorBody::parse(b"<html>proxy</html>").is_none());
        assert!(ApiErrorBody::parse(b"").is_none());
    }

    #[test]
    fn messages_name_the_place_and_code() {
        let e = VcdError::Api(Box::new(ApiError {
            method: "POST".into(),
            url: "https://vcd/api/admin/extension/vimServer/1/importVmAsVApp".into(),
            status: 400,
            major_error_code: Some(400),
            minor_error_code: Some("DUPLICATE_NAME".into()),
            message: "The VCD entity web already exists.".into(),
            request_id: Some("r-1".into()),
        }));
        let s = e.to_string();
        assert!(s.contains("POST https://vcd/api/admin/extension"), "{s}");
        assert!(s.contains("HTTP 400 DUPLICATE_NAME"), "{s}");
        assert!(s.contains("request id r-1"), "{s}");
        assert_eq!(e.minor_code(), Some("DUPLICATE_NAME"));
        assert!(!e.is_not_found());
        let t = VcdError::Task(Box::new(TaskError {
            operation: "Importing Virtual Application web".into(),
            status: "error".into(),
            message: "datastore full".into(),
            major_error_code: Some(500),
            minor_error_code: Some("INTERNAL_SERVER_ERROR".into()),
            task: "https://vcd/api/task/1".into(),
            owner: Some("web".into()),
        }));
        assert_eq!(t.minor_code(), Some("INTERNAL_SERVER_ERROR"));
        assert!(t.to_string().contains("datastore full"), "{t}");
    }
}
