//! The odt bundle format (`odt-bundle/v1`), shared by the customer-side exporter and the
//! provider-side importer. See `docs/FORMAT.md` for the normative description.
//!
//! This crate is pure: it reads and writes bytes through `std::io` traits and paths given to
//! it, and never talks to the network. The CLIs depend on it; it depends on neither.

#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::too_many_lines))]

pub mod crypto;
pub mod error;
#[cfg(any(fuzzing, test))]
pub mod fuzzing;
pub mod io;
pub mod job;
pub mod ovf;
pub mod progress;
pub mod text;
pub mod trust;
pub mod xml;

pub use error::{FormatError, Result};
