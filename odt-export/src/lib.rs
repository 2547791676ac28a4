//! The customer-side exporter: the command implementations behind `odt-export`.
//!
//! `main.rs` only parses arguments and maps errors to exit codes; each subcommand lives here.

pub mod cli;
pub mod commands;
pub mod export;
pub mod jobfile;
pub mod journal;
pub mod receipt;
pub mod source;
pub mod vcsource;
