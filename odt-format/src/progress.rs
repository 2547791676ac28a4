//! Progress reporting, as a trait so the library stays free of any terminal code: the CLIs
//! plug in progress bars, tests and `--json` runs plug in [`NoProgress`].
//!
//! Two levels: *pieces* (a file being sealed, uploaded or checked: `start`, `set`, `finish`,
//! one at a time per [`Progress::lane`]) and the *work* as a whole (the job's VMs: `plan`
//! once, then `vm_done` per VM), which an overall bar sums over every lane.

/// Receives progress of long work.
pub trait Progress: Sync {
    /// A new piece of work of `total` bytes begins.
    fn start(&self, label: &str, total: u64);
    /// `done` of the current piece's bytes are finished.
    fn set(&self, done: u64);
    /// The current piece is finished.
    fn finish(&self);
    /// A line for the operator (a warning, a step).
    fn note(&self, _msg: &str) {}
    /// A reporter for one of several pieces of work running at once, each on its own
    /// thread: its `start`/`set`/`finish` must not disturb the others' (a terminal gives it a
    /// bar of its own).
    fn lane(&self) -> Box<dyn Progress + Send + '_>;
    /// The whole work, before it begins: one entry per VM, in job order, with what an earlier
    /// run finished already (a resume), so the overall count starts there.
    fn plan(&self, _vms: &[VmWork]) {}
    /// The first `done` bytes of the current piece were done by an earlier run and are
    /// counted in [`VmWork::done`] already: they are re-read or skipped now, not this run's
    /// work, so they count neither twice nor in the rate.
    fn resumed(&self, _done: u64) {}
    /// The current (or just finished) piece counted for nothing (its source changed and it
    /// starts again, or its bytes were thrown away): what it counted, and what it
    /// [`resumed`](Progress::resumed), is taken back.
    fn discard(&self) {}
    /// VM `vm` (its index in [`Progress::plan`]) is finished; `bytes`, when known, replaces
    /// the planned figure (an estimate for a source whose size is known only at its end).
    /// A VM planned as finished is not counted twice.
    fn vm_done(&self, _vm: usize, _bytes: Option<u64>) {}
}

/// One VM of the work, as [`Progress::plan`] gets it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmWork {
    /// Its bytes: what the pieces of this VM will count in all (an estimate where the size
    /// is known only at the end).
    pub bytes: u64,
    /// Of those, what an earlier run did (finished files, the checkpointed prefix of a
    /// partial one).
    pub done: u64,
    /// An earlier run finished it.
    pub finished: bool,
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn set(&self, _: u64) {}
    fn finish(&self) {}
    fn lane(&self) -> Box<dyn Progress + Send + '_> {
        Box::new(NoProgress)
    }
}

/// Bytes in binary units for messages: `512 B`, `1.5 GiB`.
pub fn human_bytes(b: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}
