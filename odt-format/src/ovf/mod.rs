//! OVF packaging: the descriptor, the `.mf` manifest, and OVA archives.
//!
//! Everything here reads input that crossed a trust boundary (the customer's VMs, the NAS), so
//! each parser caps sizes and counts, rejects unsafe file names and reports errors as
//! [`OvfError`] with the line or member at fault:
//!
//! - [`model`]: the descriptor as odt sees it ([`Envelope`]: files, disks, networks and
//!   virtual systems with their NICs and disk attachments); [`parser`]: [`Envelope::parse`]
//!   reads an OVF 1.x/2.x descriptor into it, through the hardened [`crate::xml::Reader`].
//! - [`mf`]: [`Mf::parse`] / [`Mf::to_bytes`] for `ALGO(file)= hex` manifests, and
//!   [`DigestAlg::hasher`] for streaming SHA-1/256/512.
//! - [`ova`]: [`read_index`] lists an OVA's members and where their bytes are, without reading
//!   member data.
//! - [`validate_file_name`]: the one rule for names inside a package, shared by all three.
//! - `fuzz_entry`: entry points for fuzz targets (only under `cfg(fuzzing)` and in tests).

pub mod error;
#[cfg(any(fuzzing, test))]
pub mod fuzz_entry;
pub mod mf;
pub mod model;
mod names;
pub mod ova;
pub mod parser;
mod units;

pub use error::OvfError;
pub use mf::{DigestAlg, Mf, MfEntry, MfHasher};
pub use model::{
    Content, Disk, Envelope, FileRef, Network, Nic, OvfVersion, VirtualSystem,
    VirtualSystemCollection,
};
pub use names::{validate_file_name, MAX_FILE_NAME_BYTES};
pub use ova::{read_index, OvaIndex, OvaMember};
pub use parser::parse_descriptor;
