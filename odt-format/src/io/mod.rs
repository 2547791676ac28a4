//! Moving bytes durably and fast: writing one encrypted file with checkpoints and resume
//! ([`nasfile`]), and the ordered parallel chunk pipeline both encryption and verification
//! run on ([`pipeline`]).

pub mod nasfile;
pub mod pipeline;
