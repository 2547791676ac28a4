//! The odt bundle format (`odt-bundle/v1`), shared by the customer-side exporter and the
//! provider-side importer. See `docs/FORMAT.md` for the normative description.
//!
//! This crate is pure: it reads and writes bytes through `std::io` traits and paths given to
//! it, and never talks to the network. The CLIs depend on it; it depends on neither.

pub mod error;
pub mod keys;
pub mod ovf;
pub mod stanza;

pub use error::{FormatError, Result};
pub mod dock;
#[cfg(any(fuzzing, test))]
pub mod fuzzing;
pub mod layout;
pub mod manifest;
pub mod nasfile;
pub mod pipeline;
pub mod progress;
pub mod reader;
pub mod receipt;
pub mod stream;
pub mod text;
pub mod trust;
pub mod verify;
