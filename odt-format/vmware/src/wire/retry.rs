//! The retry table: which requests odt sends again after a failure, on what, and how long it
//! waits first.
//!
//! A request is resent only when sending it twice cannot do twice what it asks. Reads can;
//! vim25 methods cannot be told apart (most change state, and a reply lost after vCenter
//! acted looks like one never sent), and NFC transfers stream a body that is read once, so
//! they are never resent: their callers decide (see `VimError::is_retryable`). A vCD request
//! refused with 401 is sent again after a new login by the vCD client itself: vCD did not act
//! on it, so that is not a retry in this table's sense.

use std::time::Duration;

/// What a request is, for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// A vim25 SOAP method call.
    VimSoap,
    /// An NFC upload (POST/PUT of a disk or file to a lease URL).
    NfcUpload,
    /// An NFC download (GET of an exported disk): its body is consumed as it arrives, so a
    /// failure is the caller's to handle (the exporter resumes at that disk on a rerun).
    NfcDownload,
    /// A vCD `GET`.
    VcdRead,
    /// A vCD `POST`, `PUT` or `DELETE`.
    VcdChange,
}

/// What one kind of request is retried on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The connection could not be made, or the request timed out.
    pub on_connect_or_timeout: bool,
    /// HTTP statuses that mean "busy, try again later".
    pub on_status: &'static [u16],
}

const NEVER: Policy = Policy {
    on_connect_or_timeout: false,
    on_status: &[],
};

impl Call {
    /// The kind of a vCD request with this HTTP method.
    pub fn vcd(method: &reqwest::Method) -> Call {
        if *method == reqwest::Method::GET {
            Call::VcdRead
        } else {
            Call::VcdChange
        }
    }

    /// The table.
    pub const fn policy(self) -> Policy {
        match self {
            Call::VcdRead => Policy {
                on_connect_or_timeout: true,
                on_status: &[503],
            },
            Call::VimSoap | Call::NfcUpload | Call::NfcDownload | Call::VcdChange => NEVER,
        }
    }
}

/// How often and how patiently to retry: `retries` more attempts at most, the first after
/// `first`, each wait doubling; a server's `Retry-After` is honoured up to 30 s when it asks
/// for longer than that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts after the first.
    pub retries: u32,
    /// The first wait.
    pub first: Duration,
}

/// The retry state of one request: ask it after each failure whether to send again (it
/// sleeps for the backoff before saying yes).
#[derive(Debug)]
pub struct Retries {
    policy: Policy,
    backoff: Backoff,
    done: u32,
}

impl Retries {
    /// Fresh state for one request of kind `call`.
    pub fn new(call: Call, backoff: Backoff) -> Retries {
        Retries {
            policy: call.policy(),
            backoff,
            done: 0,
        }
    }

    /// After the request could not be sent: true (after waiting) when it should be sent
    /// again.
    pub fn after_send_error(&mut self, e: &reqwest::Error) -> bool {
        let retryable = self.policy.on_connect_or_timeout && (e.is_connect() || e.is_timeout());
        retryable && self.wait(None)
    }

    /// After a reply with `status` (and its `Retry-After`, if any): true (after waiting) when
    /// the request should be sent again.
    pub fn after_status(&mut self, status: u16, retry_after: Option<Duration>) -> bool {
        self.policy.on_status.contains(&status) && self.wait(retry_after)
    }

    fn wait(&mut self, hint: Option<Duration>) -> bool {
        let Some(wait) = self.next_wait(hint) else {
            return false;
        };
        self.done += 1;
        tracing::info!(
            attempt = self.done + 1,
            wait_ms = wait.as_millis() as u64,
            "retrying after a busy reply or a failed connection"
        );
        std::thread::sleep(wait);
        true
    }

    /// The wait before the next attempt, or `None` when none is left.
    fn next_wait(&self, hint: Option<Duration>) -> Option<Duration> {
        if self.done >= self.backoff.retries {
            return None;
        }
        let own = self.backoff.first * 2u32.saturating_pow(self.done);
        Some(hint.map_or(own, |h| h.min(Duration::from_secs(30)).max(own)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_vcd_reads_are_retried() {
        assert_eq!(Call::vcd(&reqwest::Method::GET), Call::VcdRead);
        assert_eq!(Call::vcd(&reqwest::Method::POST), Call::VcdChange);
        assert_eq!(Call::VcdRead.policy().on_status, &[503]);
        assert!(Call::VcdRead.policy().on_connect_or_timeout);
        for c in [
            Call::VimSoap,
            Call::NfcUpload,
            Call::NfcDownload,
            Call::VcdChange,
        ] {
            assert_eq!(c.policy(), NEVER, "{c:?}");
            let mut r = Retries::new(
                c,
                Backoff {
                    retries: 3,
                    first: Duration::ZERO,
                },
            );
            assert!(!r.after_status(503, None), "{c:?}");
        }
    }

    #[test]
    fn backoff_doubles_and_honours_retry_after_up_to_30_s() {
        let ms = Duration::from_millis;
        let mut r = Retries::new(
            Call::VcdRead,
            Backoff {
                retries: 2,
                first: ms(500),
            },
        );
        assert_eq!(r.next_wait(None), Some(ms(500)));
        r.done = 1;
        assert_eq!(r.next_wait(None), Some(ms(1000)));
        assert_eq!(r.next_wait(Some(ms(10))), Some(ms(1000)));
        assert_eq!(
            r.next_wait(Some(Duration::from_secs(99))),
            Some(Duration::from_secs(30))
        );
        r.done = 2;
        assert_eq!(r.next_wait(None), None);
        assert!(!r.after_status(503, None));
    }
}
