//! The customer-side exporter: the command implementations behind `odt-export`.
//!
//! `main.rs` only parses arguments and maps errors to exit codes; `commands/` holds one file
//! per subcommand. The domain steps of `run`: `export` (options → plan → execute → stats),
//! the sources behind one trait (`input`): packages (`source` opens and checks them, `package`
//! exports them) and VMs of a source vCenter (`vcsource`), and `jobfile` (per-VM targets).
//! The job's lifecycle on the NAS is `odt_format::job::writer`'s.

#![cfg_attr(not(test), warn(clippy::too_many_lines))]

pub mod cli;
pub mod commands;
pub mod export;
pub mod input;
pub mod jobfile;
pub mod package;
pub mod placement;
pub mod source;
pub mod vcsource;
