//! The cryptography of the format, and nothing else: key material and key files ([`keys`]),
//! wrapping the data key for passphrases and recipients ([`stanza`]), and the chunked
//! AES-256-GCM STREAM construction every file on the NAS is sealed with ([`stream`]).

pub mod keys;
pub mod stanza;
pub mod stream;
