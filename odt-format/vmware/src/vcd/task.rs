//! vCD tasks: what a `Task` says and how it ended (waiting for one is in `wait`, which is
//! the client's side of it).
//!
//! `queued`, `preRunning`, `running` and `postRunning` mean "still going" (and so does any
//! status this client does not know, bounded by the timeout); `success` ends the wait;
//! `error`, `canceled` and `aborted` end it with [`VcdError::Task`], whose message is the
//! task's `Error@message`.

use std::sync::Arc;

use crate::vsphere::xml::Element;
use crate::wire::redact_url_keep_query;

use super::error::{ApiErrorBody, Result, TaskError, VcdError};

/// Called with each polled task state while an operation waits for its task.
pub type TaskProgress = Arc<dyn Fn(&Task) + Send + Sync>;

/// A task's state (`Task` element).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Task {
    /// `href`.
    pub href: String,
    /// `id` (`urn:vcloud:task:…`).
    pub id: String,
    /// `status`: `queued`, `preRunning`, `running`, `postRunning`, `success`, `error`,
    /// `canceled`, `aborted`.
    pub status: String,
    /// `operation` (human text: "Importing Virtual Application web(…)").
    pub operation: String,
    /// `operationName` (`importSingletonVapp`, `vappUpdateVm`, …).
    pub operation_name: String,
    /// `Progress` (0–100), when given.
    pub progress: Option<u8>,
    /// The `Error` child of a failed task.
    pub error: Option<ApiErrorBody>,
    /// `Owner@name` (else its href): what the task works on.
    pub owner: Option<String>,
    /// `Owner@href`.
    pub owner_href: Option<String>,
    /// `Details`, when given.
    pub details: Option<String>,
}

impl Task {
    /// Reads a `Task` element.
    pub fn from_element(e: &Element) -> Task {
        let owner = e.child("Owner");
        let nonempty = |s: Option<&str>| -> Option<String> {
            s.map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Task {
            href: e.attr("href").unwrap_or_default().to_owned(),
            id: e.attr("id").unwrap_or_default().to_owned(),
            status: e.attr("status").unwrap_or_default().to_owned(),
            operation: e.attr("operation").unwrap_or_default().to_owned(),
            operation_name: e.attr("operationName").unwrap_or_default().to_owned(),
            progress: e
                .text_of("Progress")
                .and_then(|p| p.parse::<u32>().ok())
                .map(|p| p.min(100) as u8),
            error: e.child("Error").map(ApiErrorBody::from_element),
            owner: owner
                .and_then(|o| nonempty(o.attr("name")).or_else(|| nonempty(o.attr("href")))),
            owner_href: owner.and_then(|o| nonempty(o.attr("href"))),
            details: nonempty(e.text_of("Details")),
        }
    }

    /// What the task does, for messages: `operation`, else `operationName`, else `"task"`.
    pub fn what(&self) -> &str {
        if !self.operation.is_empty() {
            &self.operation
        } else if !self.operation_name.is_empty() {
            &self.operation_name
        } else {
            "task"
        }
    }

    /// True while the task has not finished.
    pub fn is_running(&self) -> bool {
        !matches!(
            self.status.as_str(),
            "success" | "error" | "canceled" | "aborted"
        )
    }

    /// `Ok` for `success`, the task error for `error`/`canceled`/`aborted`, `None` while
    /// running.
    pub fn outcome(&self) -> Option<Result<()>> {
        match self.status.as_str() {
            "success" => Some(Ok(())),
            "error" | "canceled" | "aborted" => {
                let err = self.error.clone().unwrap_or_default();
                let message = if !err.message.is_empty() {
                    err.message
                } else if let Some(d) = &self.details {
                    d.clone()
                } else if self.status == "error" {
                    "vCD gave no reason".to_owned()
                } else {
                    format!("the task was {}", self.status)
                };
                Some(Err(VcdError::Task(Box::new(TaskError {
                    operation: self.what().to_owned(),
                    status: self.status.clone(),
                    message,
                    major_error_code: err.major_error_code,
                    minor_error_code: err.minor_error_code,
                    task: redact_url_keep_query(&self.href),
                    owner: self.owner.clone(),
                }))))
            }
            _ => None,
        }
    }
}

/// The tasks embedded in an entity (`Tasks/Task`), in order.
pub fn embedded_tasks(e: &Element) -> Vec<Task> {
    e.child("Tasks")
        .map(|t| t.children("Task").map(Task::from_element).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNING: &str = r#"<Task xmlns="http://www.vmware.com/vcloud/v1.5" cancelRequested="false" expiryTime="2026-09-01T00:00:00Z" operation="Importing Virtual Application web(5f2c)" operationName="importSingletonVapp" serviceNamespace="com.vmware.cloud" startTime="2026-06-03T10:00:00Z" status="running" name="task" id="urn:vcloud:task:1b2c" href="https://vcd/api/task/1b2c" type="application/vnd.vmware.vcloud.task+xml">
  <Link rel="task:cancel" href="https://vcd/api/task/1b2c/action/cancel"/>
  <Owner type="application/vnd.vmware.vcloud.vApp+xml" name="web" href="https://vcd/api/vApp/vapp-5f2c"/>
  <User type="application/vnd.vmware.admin.user+xml" name="admin" href="https://vcd/api/admin/user/9"/>
  <Organization type="application/vnd.vmware.vcloud.org+xml" name="System" href="https://vcd/api/org/a"/>
  <Progress>40</Progress>
</Task>"#;

    const FAILED: &str = r#"<Task xmlns="http://www.vmware.com/vcloud/v1.5" operation="Importing Virtual Application web(5f2c)" operationName="importSingletonVapp" status="error" href="https://vcd/api/task/1b2c">
  <Owner name="web" href="https://vcd/api/vApp/vapp-5f2c"/>
  <Error majorErrorCode="500" minorErrorCode="INTERNAL_SERVER_ERROR" message="Unable to perform this action. Contact your cloud administrator." stackTrace="..."/>
  <Progress>100</Progress>
</Task>"#;

    #[test]
    fn parses_a_running_task() {
        let t = Task::from_element(&Element::parse(RUNNING.as_bytes()).unwrap());
        assert_eq!(t.status, "running");
        assert!(t.is_running());
        assert!(t.outcome().is_none());
        assert_eq!(t.progress, Some(40));
        assert_eq!(t.owner.as_deref(), Some("web"));
        assert_eq!(
            t.owner_href.as_deref(),
            Some("https://vcd/api/vApp/vapp-5f2c")
        );
        assert_eq!(t.operation_name, "importSingletonVapp");
        assert_eq!(t.what(), "Importing Virtual Application web(5f2c)");
        assert!(t.error.is_none());
    }

    #[test]
    fn a_failed_task_is_a_clear_error() {
        let t = Task::from_element(&Element::parse(FAILED.as_bytes()).unwrap());
        assert!(!t.is_running());
        let e = t.outcome().unwrap().unwrap_err();
        assert_eq!(e.minor_code(), Some("INTERNAL_SERVER_ERROR"));
        let s = e.to_string();
        assert!(s.contains("Importing Virtual Application web"), "{s}");
        assert!(s.contains("Contact your cloud administrator"), "{s}");
        assert!(s.contains("https://vcd/api/task/1b2c"), "{s}");
        assert!(s.contains("error"), "{s}");
    }

    #[test]
    fn canceled_and_aborted_fail_and_success_succeeds() {
        for st in ["canceled", "aborted"] {
            let t = Task {
                status: st.into(),
                operation_name: "vappDeploy".into(),
                ..Task::default()
            };
            let e = t.outcome().unwrap().unwrap_err().to_string();
            assert!(e.contains(&format!("the task was {st}")), "{e}");
            assert!(e.contains("vappDeploy"), "{e}");
        }
        let ok = Task {
            status: "success".into(),
            ..Task::default()
        };
        assert!(ok.outcome().unwrap().is_ok());
        for st in [
            "queued",
            "preRunning",
            "running",
            "postRunning",
            "somethingNew",
        ] {
            assert!(Task {
                status: st.into(),
                ..Task::default()
            }
            .is_running());
        }
    }

    #[test]
    fn embedded_tasks_of_an_entity() {
        let vapp = format!(
            r#"<VApp xmlns="http://www.vmware.com/vcloud/v1.5" name="web" status="0"><Link rel="up" href="x"/><Tasks>{RUNNING}</Tasks><DateCreated>x</DateCreated></VApp>"#
        );
        let ts = embedded_tasks(&Element::parse(vapp.as_bytes()).unwrap());
        assert_eq!(ts.len(), 1);
        assert_eq!(ts[0].href, "https://vcd/api/task/1b2c");
    }
}
