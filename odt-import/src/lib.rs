//! The provider-side importer: the command implementations behind `odt-import`.
//!
//! `main.rs` only parses arguments and maps errors to exit codes; each subcommand lives in
//! `commands`, the pure plan in `plan`, the vCenter deploy in `deploy`.

pub mod cli;
pub mod commands;
pub mod deploy;
pub mod dock;
pub mod journal;
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
