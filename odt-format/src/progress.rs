//! Progress reporting, as a trait so the library stays free of any terminal code: the CLIs
//! plug in progress bars, tests and `--json` runs plug in [`NoProgress`].

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
