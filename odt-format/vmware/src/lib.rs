#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::too_many_lines))]
//! Bytes on the wire: odt's clients for vCenter ([`vsphere`]: vim25 SOAP, the inventory, OVF
//! import and export through an HttpNfcLease) and for vCloud Director ([`vcd`]: login, the
//! query service, the vimServer import actions, networks, tasks).
//!
//! Both run over one [`wire`] layer: the HTTP client builder, the TLS verifier with
//! thumbprint pinning, URL redaction and the retry table.
//!
//! Neither client sees a key or knows the odt format: transfers take a `Read` or a `Write`
//! and report progress, and the callers (the two binaries) decide what flows through them.
//! Blocking (reqwest's blocking client): each call is one request and its reply; the lease
//! keep-alive runs on its own thread.

pub mod vcd;
pub mod vsphere;
pub mod wire;
