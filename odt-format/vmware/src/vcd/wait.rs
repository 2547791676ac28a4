//! Waiting for vCD tasks: the client's side of [`Task`](super::task::Task).
//!
//! Polling starts fast and backs off (by half each poll, up to a cap), and gives up after the
//! timeout with [`VcdError::TaskTimeout`], unlike pyvcloud, whose wait never times out. Apart
//! from the task model so that the model stays pure and the client does not import its own
//! callers.

use std::time::{Duration, Instant};

use crate::vsphere::xml::Element;
use crate::wire::redact_url_keep_query;

use super::client::VcdClient;
use super::error::{Result, VcdError};
use super::task::{embedded_tasks, Task};

impl VcdClient {
    /// Reads a task.
    pub fn get_task(&self, href: &str) -> Result<Task> {
        let e = self.get("Task", href)?;
        if e.name != "Task" {
            return Err(VcdError::malformed(
                "Task",
                redact_url_keep_query(href),
                format!("expected a <Task>, got <{}>", e.name),
            ));
        }
        Ok(Task::from_element(&e))
    }

    /// Polls the task at `task_href` until it ends, calling `progress` with each state
    /// seen. `success` → the final task; `error`/`canceled`/`aborted` → [`VcdError::Task`];
    /// still running after `timeout` → [`VcdError::TaskTimeout`].
    pub fn wait_task(
        &self,
        task_href: &str,
        timeout: Duration,
        progress: &mut dyn FnMut(&Task),
    ) -> Result<Task> {
        let started = Instant::now();
        let mut wait = self.opts.poll_interval;
        loop {
            let t = self.get_task(task_href)?;
            progress(&t);
            if let Some(outcome) = t.outcome() {
                return outcome.map(|()| t);
            }
            let elapsed = started.elapsed();
            if elapsed >= timeout {
                return Err(VcdError::TaskTimeout {
                    operation: t.what().to_owned(),
                    status: t.status.clone(),
                    seconds: elapsed.as_secs(),
                    task: redact_url_keep_query(task_href),
                });
            }
            std::thread::sleep(wait.min(timeout - elapsed));
            wait = (wait + wait / 2).min(self.opts.max_poll_interval);
        }
    }

    /// Waits for `task` with the client's task timeout and progress callback. A task that
    /// already ended is judged without a request.
    pub(crate) fn finish_task(&self, task: &Task) -> Result<Task> {
        if let Some(outcome) = task.outcome() {
            return outcome.map(|()| task.clone());
        }
        if task.href.is_empty() {
            return Err(VcdError::malformed(
                "Task",
                self.url(),
                format!("task {:?} has no href to poll", task.what()),
            ));
        }
        let cb = self.task_progress();
        let mut f = |t: &Task| {
            if let Some(cb) = &cb {
                cb(t)
            }
        };
        self.wait_task(&task.href, self.opts.task_timeout, &mut f)
    }

    /// Waits for the task a reply body holds (a `Task` root, or an entity's `Tasks/Task`);
    /// nothing to wait for when there is none.
    pub(crate) fn finish_tasks_in(&self, e: &Element) -> Result<()> {
        if e.name == "Task" {
            self.finish_task(&Task::from_element(e))?;
            return Ok(());
        }
        for t in embedded_tasks(e) {
            self.finish_task(&t)?;
        }
        Ok(())
    }
}
