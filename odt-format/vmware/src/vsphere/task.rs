//! vim tasks: waiting for one, and the two VM changes odt makes through them (marking the
//! VMs it created, destroying a half-made one).

use std::time::{Duration, Instant};

use super::client::Client;
use super::error::{Result, VimError};
use super::soap::LocalizedFault;
use super::types::MoRef;
use super::xml::{Element, XmlWriter};

/// How long [`wait_task`] waits by default in the helpers of this module.
pub const TASK_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Waits for a task to finish: polls `info` until `state` is `success` (returns
/// `info.result`, if any) or `error` ([`VimError::Task`] with the fault's type and message).
pub fn wait_task(client: &Client, task: &MoRef, timeout: Duration) -> Result<Option<Element>> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        let objs = client.retrieve(std::slice::from_ref(task), "Task", &["info"])?;
        let info = objs
            .into_iter()
            .find(|o| &o.obj == task)
            .and_then(|o| {
                o.props
                    .into_iter()
                    .find(|(n, _)| n == "info")
                    .map(|(_, v)| v)
            })
            .ok_or_else(|| VimError::NotFound {
                what: format!("task {}", task.value),
                choices: Vec::new(),
            })?;
        let op = info
            .text_of("descriptionId")
            .or_else(|| info.text_of("name"))
            .unwrap_or("task")
            .to_string();
        match info.text_of("state").unwrap_or("") {
            "success" => {
                return Ok(info.children.into_iter().find(|c| c.name == "result"));
            }
            "error" => {
                let f = info
                    .child("error")
                    .map(LocalizedFault::from_element)
                    .unwrap_or(LocalizedFault {
                        fault_type: "MethodFault".into(),
                        message: String::new(),
                        fault: None,
                    });
                return Err(VimError::Task {
                    task: task.value.clone(),
                    op,
                    fault_type: f.fault_type,
                    message: f.message,
                });
            }
            _ => {}
        }
        if start.elapsed() >= timeout {
            return Err(VimError::Timeout {
                what: format!("task {} ({op})", task.value),
                seconds: timeout.as_secs(),
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

fn run_task(client: &Client, method: &str, this: &MoRef, body: &str) -> Result<Option<Element>> {
    let resp = client.call(method, this, body)?;
    let task = resp
        .child("returnval")
        .ok_or_else(|| VimError::xml(format!("{method} reply"), "no task"))
        .and_then(MoRef::from_element)?;
    wait_task(client, &task, TASK_TIMEOUT)
}

/// Sets `extraConfig` keys on a VM (ReconfigVM_Task), e.g. to mark the VMs odt created so a
/// rerun recognises them. Values are strings.
pub fn reconfigure_extra_config(
    client: &Client,
    vm: &MoRef,
    entries: &[(String, String)],
) -> Result<()> {
    let mut w = XmlWriter::new();
    w.open("spec");
    for (k, v) in entries {
        w.open("extraConfig")
            .leaf("key", k)
            .leaf_typed("value", "xsd:string", v)
            .close("extraConfig");
    }
    w.close("spec");
    run_task(client, "ReconfigVM_Task", vm, w.as_str()).map(|_| ())
}

/// Deletes a VM and its files (Destroy_Task) and waits for it. A VM that is already gone
/// counts as deleted (after an abort vCenter removes the VM itself, possibly while this runs),
/// so this is safe to use for clean-up. A powered-on VM fails with `InvalidPowerState`:
/// imported VMs are off.
pub fn destroy_vm(client: &Client, vm: &MoRef) -> Result<()> {
    match run_task(client, "Destroy_Task", vm, "") {
        Ok(_) => Ok(()),
        Err(e) if e.fault_type() == Some("ManagedObjectNotFound") => Ok(()),
        Err(e) => Err(e),
    }
}
