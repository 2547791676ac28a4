//! Ctrl-C (SIGINT) and SIGTERM during long work: a flag the loops check, never an exit from
//! the handler, so the work in flight stops the way any failure stops it (the export's partial
//! files and journal stay resumable, docs/FORMAT.md §9; an import's lease is aborted and its
//! half-made VM removed) and the rerun of the same command resumes. `program::main` then
//! prints "interrupted: rerun the same command to resume" and exits with 130, the status a
//! shell gives a command SIGINT killed.
//!
//! A second signal while the first is being handled exits at once with 130: the operator who
//! presses Ctrl-C twice does not want to wait for the cleanup (which the rerun then does: a
//! lease left open times out in vCenter, a VM half made is removed by the next run).
//!
//! Commands [`arm`] it only once their secrets are read (a prompt keeps the usual Ctrl-C) and
//! their long work begins; before that a signal ends the process as it always did, with
//! nothing written.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// The exit status of an interrupted command (128 + SIGINT, as a shell reports it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// What `program::main` prints (after the program's name) for an interrupted command.
pub const MESSAGE: &str = "interrupted: rerun the same command to resume";

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The error the loops stop with once a signal came.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// From now on SIGINT and SIGTERM set the flag (the first) or exit with 130 (the next).
/// Idempotent. Fails only if the handlers cannot be installed, which is then said.
pub fn arm() -> std::io::Result<()> {
    if FLAG.get().is_some() {
        return Ok(());
    }
    let flag = FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, so it sees the flag as it was before this signal's own handler
        // sets it: only a second signal finds it set.
        signal_hook::flag::register_conditional_shutdown(
            sig,
            i32::from(EXIT_INTERRUPTED),
            flag.clone(),
        )?;
        signal_hook::flag::register(sig, flag.clone())?;
    }
    tracing::debug!("SIGINT and SIGTERM stop the work at the next check");
    Ok(())
}

/// Whether a signal came since [`arm`].
pub fn requested() -> bool {
    FLAG.get().is_some_and(|f| f.load(Ordering::SeqCst))
}

/// `Err(Interrupted)` once a signal came: for the loops, between VMs and steps.
pub fn check() -> Result<(), Interrupted> {
    match requested() {
        true => Err(Interrupted),
        false => Ok(()),
    }
}

/// A reader that fails once a signal came, so a transfer stops at its next read: the chunk
/// pipeline, an NFC upload or download stops there as on any read error, and cleans up as
/// such. The error is of kind `Other` (not `Interrupted`, which readers retry).
pub struct Stoppable<R>(pub R);

impl<R: Read> Read for Stoppable<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        check().map_err(std::io::Error::other)?;
        self.0.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_sets_the_flag_and_a_stoppable_reader_then_fails() {
        let mut r = Stoppable(&b"abcd"[..]);
        let mut buf = [0u8; 2];
        arm().unwrap();
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        assert!(check().is_ok());
        // The real handler, by a real signal (one: a second one exits, by design).
        signal_hook::low_level::raise(signal_hook::consts::SIGINT).unwrap();
        assert!(requested());
        let e = r.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::Other);
        assert!(e.get_ref().is_some_and(|e| e.is::<Interrupted>()));
        assert!(check().is_err());
    }
}
