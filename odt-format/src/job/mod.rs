//! A job on the NAS (docs/FORMAT.md §2): where each file lives ([`layout`]), the signed job
//! manifest ([`manifest`]), writing a job ([`writer`]) with its resume journal ([`journal`]),
//! opening a job and decrypting its files ([`reader`]), keyless and deep verification
//! ([`verify`]), the dock record that binds a verification to the bytes it ran on ([`dock`]),
//! the provider's signed import receipt ([`receipt`]), and the names of the files the
//! importer keeps per job in its state folder ([`state`]), the signed index of one NAS
//! unit of a job that spans several ([`unit`]), and the units an importer has at hand, checked
//! to belong together ([`mounted`]).

pub mod dock;
pub mod journal;
pub mod layout;
pub mod manifest;
pub mod mounted;
pub mod reader;
pub mod receipt;
pub mod state;
pub mod unit;
pub mod verify;
pub mod writer;
