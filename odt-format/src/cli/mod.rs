//! Helpers shared by `odt-export` and `odt-import` (feature `cli`): secrets from the
//! environment, a file or a prompt; progress bars; the verify command both programs offer.

pub mod progress;
pub mod secret;
pub mod verify;

/// A usage error: the program exits with status 2 (clap's own usage errors do the same).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Exit status when the work failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status for a usage error.
pub const EXIT_USAGE: u8 = 2;
