//! The provider-side importer: the glue behind `odt-import`.
//!
//! `main.rs` only parses arguments and maps errors to exit codes; `cli` is the clap
//! definition (the `*Options` of each command), `config` the provider config file that fills
//! what the command line left out; `commands/` holds one file per command. The
//! domain steps are modules of their own: `tenancy` (what the signer may target), `dock`
//! (the dock record), `plan` (pure: the manifest and the facts read from the targets, to
//! checks and actions), `deploy` (into vCenter), `register` (into vCD), `journal` (what a
//! rerun needs), `overrides` (`--rename`/`--set` at the dock), `receipt`.

#![cfg_attr(not(test), warn(clippy::too_many_lines))]

pub mod cli;
pub mod commands;
pub mod config;
pub mod deploy;
pub mod dock;
#[cfg(test)]
mod fixtures;
pub mod journal;
pub mod overrides;
pub mod plan;
pub mod receipt;
pub mod register;
pub mod tenancy;
pub mod vcenter;

/// Now, as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}
