//! Entry points for the fuzz targets in `fuzz/` (and for the unit tests that replay them):
//! each feeds untrusted bytes to one parser and checks it never panics and keeps its
//! invariants.
//!
//! Every function takes arbitrary bytes and must return normally. A panic is a bug: either the
//! code under test panicked on hostile input, or it broke the invariant stated in the entry's
//! doc comment. The secrets used here (signing key, identity, data key, passphrase) are fixed,
//! public constants so that every run is reproducible; they protect nothing.
//!
//! The OVF, `.mf` and OVA entries live in [`crate::ovf::fuzz_entry`]; the generic XML tree
//! parser (the one odt-vmware reads SOAP and vCD replies with) is [`fuzz_xml_tree`] here.

use std::io::Read;
use std::sync::OnceLock;

use rand::SeedableRng;

use crate::crypto::keys::{
    self, DataKey, Identity, SigningKey, VerifyingKey, SIGN_PUBLIC_PREFIX, SIGN_SECRET_PREFIX,
    X25519_PUBLIC_PREFIX, X25519_SECRET_PREFIX,
};
use crate::crypto::stanza::{self, KdfParams, Stanza, Unlock};
use crate::crypto::stream::{
    FileHeader, Geometry, StreamKey, CHUNK_LOG2_RANGE, HEADER_LEN, TAG_LEN,
};
use crate::job::manifest::{self, FileEntry, JobManifest, Target, VmEntry, VmSummary, FORMAT};
use crate::job::reader::DecryptReader;
use crate::job::receipt::{Receipt, RECEIPT_FORMAT};
use crate::trust::{self, Grants, TrustFile, TrustPolicy};
use crate::xml::{self, Element, Limits, NamespaceStyle};

/// Seed of the fixed Ed25519 key that signs (and is trusted for) fuzzed manifests.
const SIGNING_SEED: [u8; 32] = [0x5a; 32];
/// The fixed X25519 identity that fuzzed stanzas are opened with.
const IDENTITY: [u8; 32] = [0x1d; 32];
/// The fixed data key of the decryption fixture.
const DATA_KEY: [u8; 32] = [0xda; 32];
/// The fixed job id stanzas are opened for, and of the decryption fixture.
const JOB_ID: [u8; 16] = [0x10; 16];
/// The fixed passphrase cheap Argon2id stanzas are opened with.
pub const PASSPHRASE: &[u8] = b"odt fuzz passphrase";
/// Chunk size (log2) of the decryption fixture: the smallest a reader accepts, so that
/// multi-chunk streams stay small.
const FIXTURE_CHUNK_LOG2: u8 = 16;
/// The files of the decryption fixture's one VM: (name, plaintext size). Sizes sit on and
/// around chunk boundaries.
const FIXTURE_FILES: [(&str, u64); 7] = [
    ("vm.ovf", 100),
    ("vm.mf", 1),
    ("empty.bin", 0),
    ("edge.bin", 65_535),
    ("one-chunk.vmdk", 65_536),
    ("two-chunks.vmdk", 65_537),
    ("three-chunks.vmdk", 2 * 65_536 + 7),
];

fn signing_key() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| SigningKey::from_seed(&SIGNING_SEED))
}

fn trusted_key() -> &'static VerifyingKey {
    static K: OnceLock<VerifyingKey> = OnceLock::new();
    K.get_or_init(|| signing_key().verifying_key())
}

fn identity() -> &'static Identity {
    static K: OnceLock<Identity> = OnceLock::new();
    K.get_or_init(|| Identity::from_bytes(IDENTITY))
}

// ------------------------------------------------------------------------------ manifest

/// Fuzzes [`JobManifest::parse`].
///
/// Invariants: parsing never panics; a manifest it accepts serialises with
/// [`JobManifest::to_bytes`] to bytes that parse again to an equal manifest, and serialising
/// that gives the same bytes (the written form is stable); and the helpers a reader calls on an
/// accepted manifest (`job_id_bytes`, `parsed_header`, `file` for the descriptor and `.mf`,
/// `encrypted_bytes`) succeed without panicking, with each file's chunk count and encrypted
/// size matching its header's geometry.
pub fn fuzz_manifest(data: &[u8]) {
    let Ok(m) = JobManifest::parse(data) else {
        return;
    };
    let bytes = m.to_bytes();
    let again = match JobManifest::parse(&bytes) {
        Ok(a) => a,
        Err(e) => panic!("to_bytes output of an accepted manifest does not parse: {e}"),
    };
    assert_eq!(
        again, m,
        "the manifest changed in a to_bytes/parse round trip"
    );
    assert_eq!(again.to_bytes(), bytes, "to_bytes is not stable");
    m.job_id_bytes()
        .expect("an accepted manifest has a 16-byte job id");
    for vm in &m.vms {
        assert!(
            manifest::valid_vm_dir(&vm.dir),
            "accepted bad dir {:?}",
            vm.dir
        );
        assert!(
            vm.file(&vm.descriptor).is_some(),
            "descriptor not among files"
        );
        assert!(vm.file(&vm.mf).is_some(), ".mf not among files");
        for f in &vm.files {
            let stream = vm.stream_name(f);
            let h = f
                .parsed_header(&stream)
                .expect("an accepted manifest has valid headers");
            let g = Geometry {
                plain_size: f.size,
                chunk_size: h.chunk_size() as u64,
            };
            assert_eq!(g.chunks(), f.chunks, "{stream}: chunk count");
            assert_eq!(
                g.encrypted_size(),
                f.encrypted_size,
                "{stream}: encrypted size"
            );
        }
    }
    let _ = m.encrypted_bytes();
}

/// Fuzzes [`manifest::verify_signed`] with a fixed trusted key.
///
/// The first byte picks a mode; the rest is split at its first NUL byte into manifest bytes
/// and a second part:
///
/// - mode 0: the second part is the signature file. Verification never panics, and when it
///   succeeds the result equals a plain parse of the manifest bytes and names the trusted
///   signer. The key embedded in the signature file is tried too (never panics).
/// - mode 1: the manifest bytes are signed with the trusted key (the second part is ignored).
///   Verification must then succeed exactly when the manifest parses and its `signer_key_id`
///   is the trusted key's id, and the result must equal the plain parse.
/// - mode 2: the manifest bytes are signed, then one bit of them (chosen by the second part)
///   is flipped, or a byte is added if they are empty: verification must fail.
pub fn fuzz_signed_manifest(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (mbytes, second) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    let trusted = trusted_key();
    match mode % 3 {
        0 => {
            if let Ok(m) = manifest::verify_signed(mbytes, second, trusted) {
                let plain = JobManifest::parse(mbytes).expect("verified manifest parses");
                assert_eq!(m, plain, "verified manifest differs from its plain parse");
                assert_eq!(
                    m.signer_key_id,
                    trusted.key_id(),
                    "accepted a foreign signer"
                );
            }
            if let Ok(k) = manifest::embedded_key(second) {
                if let Ok(m) = manifest::verify_signed(mbytes, second, &k) {
                    assert_eq!(m.signer_key_id, k.key_id(), "accepted a foreign signer");
                }
            }
        }
        1 => {
            let sig = manifest::sign(signing_key(), mbytes);
            let got = manifest::verify_signed(mbytes, &sig, trusted);
            let plain = JobManifest::parse(mbytes)
                .ok()
                .filter(|m| m.signer_key_id == trusted.key_id());
            match (got, plain) {
                (Ok(m), Some(p)) => assert_eq!(m, p, "verified manifest differs from its parse"),
                (Err(_), None) => {}
                (Ok(_), None) => panic!("verify_signed accepted a manifest parse rejects"),
                (Err(e), Some(_)) => panic!("verify_signed rejected a well-signed manifest: {e}"),
            }
            let embedded = manifest::embedded_key(&sig).expect("sign writes an embedded key");
            assert_eq!(&embedded, trusted, "embedded key is not the signer's");
        }
        _ => {
            let sig = manifest::sign(signing_key(), mbytes);
            let altered = flip_one_bit(mbytes, second);
            assert!(
                manifest::verify_signed(&altered, &sig, trusted).is_err(),
                "a manifest altered after signing was accepted"
            );
        }
    }
}

/// `bytes` with one bit flipped, chosen by the first bytes of `pick` (or one byte added when
/// `bytes` is empty): a change made after signing, which verification must catch.
fn flip_one_bit(bytes: &[u8], pick: &[u8]) -> Vec<u8> {
    let mut altered = bytes.to_vec();
    if altered.is_empty() {
        altered.push(pick.first().copied().unwrap_or(b'{'));
    } else {
        let p = pick
            .iter()
            .take(4)
            .fold(0usize, |a, &b| (a << 8) | b as usize);
        let i = p % altered.len();
        altered[i] ^= 1 << (p % 8);
    }
    altered
}

// ------------------------------------------------------------------------------ receipt

/// Fuzzes [`Receipt::verify`] and [`Receipt::check_against`]. The input is a mode byte, then
/// receipt bytes, then (after the first 0 byte) a second part.
///
/// - mode 0: the second part is the signature file. Nothing panics; a receipt that verifies
///   names the trusted key as its provider, and checking it against the fixture's manifest
///   never panics.
/// - mode 1: the receipt bytes are signed here with the trusted key. Verification must then
///   succeed exactly when the bytes parse as a receipt of this format naming that key, and an
///   accepted receipt written out again verifies to the same receipt.
/// - mode 2: the receipt bytes are signed, then one bit of them is flipped (or a byte added if
///   empty): verification must fail.
pub fn fuzz_receipt(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (rbytes, second) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    let trusted = trusted_key();
    let manifest_bytes = fixture().manifest.to_bytes();
    match mode % 3 {
        0 => {
            if let Ok(r) = Receipt::verify(rbytes, second, trusted) {
                assert_eq!(
                    r.provider_key_id.as_deref(),
                    Some(trusted.key_id().as_str()),
                    "accepted a receipt naming another provider key"
                );
                let _ = r.check_against(&manifest_bytes);
            }
        }
        1 => {
            let sig = Receipt::sign(rbytes, signing_key());
            let parsed = serde_json::from_slice::<Receipt>(rbytes).ok().filter(|r| {
                r.format == RECEIPT_FORMAT
                    && r.provider_key_id.as_deref() == Some(trusted.key_id().as_str())
            });
            match (Receipt::verify(rbytes, &sig, trusted), parsed) {
                (Ok(r), Some(p)) => {
                    assert_eq!(r, p, "verified receipt differs from its parse");
                    let again = r.to_bytes();
                    let back =
                        Receipt::verify(&again, &Receipt::sign(&again, signing_key()), trusted)
                            .expect("a written receipt verifies");
                    assert_eq!(back, r, "a receipt changed when written out again");
                    let _ = r.check_against(&manifest_bytes);
                }
                (Err(_), None) => {}
                (Ok(_), None) => panic!("Receipt::verify accepted bytes that do not parse"),
                (Err(e), Some(_)) => panic!("Receipt::verify rejected a well-signed receipt: {e}"),
            }
        }
        _ => {
            let sig = Receipt::sign(rbytes, signing_key());
            let altered = flip_one_bit(rbytes, second);
            assert!(
                Receipt::verify(&altered, &sig, trusted).is_err(),
                "a receipt altered after signing was accepted"
            );
        }
    }
}

// ---------------------------------------------------------------------------- unit index

/// The fixture's manifest as a job over two units, and its bytes: what fuzzed unit indexes
/// are checked against.
fn unit_manifest() -> &'static (JobManifest, Vec<u8>) {
    static M: OnceLock<(JobManifest, Vec<u8>)> = OnceLock::new();
    M.get_or_init(|| {
        let mut m = fixture().manifest.clone();
        m.units = Some(2);
        let b = m.to_bytes();
        (m, b)
    })
}

/// `unit_index`: the unit index (`odt-unit.json`, docs/FORMAT.md §2.2). The first byte picks
/// a mode; the rest is the index bytes, then (after the first 0 byte) a second part.
/// - mode 0: [`UnitIndex::parse`] never panics; an index it accepts has a unit in 1..=units,
///   2..=MAX_UNITS units, no file twice, and parses back to itself once written out; checking
///   it with the second part as its signature against the fixture's manifest never panics,
///   and an accepted one is of the fixture's job.
/// - mode 1: the index bytes are signed here with the trusted key: verification must succeed
///   exactly when they parse and fit the fixture's two-unit manifest.
/// - mode 2: signed, then one bit flipped (or a byte added if empty): verification fails.
pub fn fuzz_unit_index(data: &[u8]) {
    use crate::job::unit::{UnitIndex, MAX_UNITS};
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (ibytes, second) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    let (m, mb) = unit_manifest();
    let trusted = trusted_key();
    match mode % 3 {
        0 => {
            if let Ok(u) = UnitIndex::parse(ibytes) {
                assert!((2..=MAX_UNITS).contains(&u.units) && (1..=u.units).contains(&u.unit));
                let mut files = u.files.clone();
                files.sort();
                files.dedup();
                assert_eq!(
                    files.len(),
                    u.files.len(),
                    "a file listed twice was accepted"
                );
                let back = UnitIndex::parse(&u.to_bytes()).expect("a written index parses");
                assert_eq!(back, u, "an index changed when written out again");
            }
            if let Ok(u) = UnitIndex::verify(ibytes, second, trusted, m, mb) {
                assert_eq!(u.job_id, m.job_id, "accepted an index of another job");
            }
        }
        1 => {
            let sig = UnitIndex::sign(ibytes, signing_key());
            let fits = UnitIndex::parse(ibytes).is_ok_and(|u| u.check_against(m, mb).is_ok());
            let verified = UnitIndex::verify(ibytes, &sig, trusted, m, mb);
            assert_eq!(
                verified.is_ok(),
                fits,
                "verification of a well-signed index disagrees with its parse: {verified:?}"
            );
        }
        _ => {
            let sig = UnitIndex::sign(ibytes, signing_key());
            let mut altered = ibytes.to_vec();
            match altered.len() {
                0 => altered.push(b'{'),
                n => altered[second.len() % n] ^= 1 << (second.len() % 8),
            }
            assert!(
                UnitIndex::verify(&altered, &sig, trusted, m, mb).is_err(),
                "an index altered after signing was accepted"
            );
        }
    }
}

// --------------------------------------------------------------------------------- trust

/// The key the `trust` target gives each key file: derived from the path (as the path's
/// components, so `a//b` and `a/b`, which name one file, get one key), so that two customers
/// share a key exactly when their key paths name the same file.
fn fuzz_trust_key(path: &std::path::Path) -> VerifyingKey {
    use sha2::Digest;
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let seed: [u8; 32] = sha2::Sha256::digest(parts.join("\0").as_bytes()).into();
    SigningKey::from_seed(&seed).verifying_key()
}

/// Fuzzes [`TrustFile::parse`] and [`TrustPolicy::from_file`] (the provider's `--trust` file),
/// then the [`Grants`] of every customer it accepts.
///
/// Invariants: nothing panics; an accepted file has 1 to [`trust::MAX_CUSTOMERS`] customers
/// with valid, distinct names, lines within the file, and at most [`trust::MAX_ORGS`] orgs
/// each, no two the same org ([`trust::same_org`]), no empty VDC or catalog list; building the
/// policy (each key file's key derived from its path) fails exactly when two customers' key
/// paths resolve to the same file, and otherwise finds each customer by its key id. For each
/// org a customer may target: a VM targeting it (in any ASCII case, in its first listed VDC
/// and catalog) is allowed; the same VM in an org, VDC or catalog one character off is
/// refused, and the refusal names the VM's org; a VM naming no org is never refused.
pub fn fuzz_trust(data: &[u8]) {
    let Ok(file) = TrustFile::parse(data, "fuzz.toml") else {
        return;
    };
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    assert!(!file.customers.is_empty() && file.customers.len() <= trust::MAX_CUSTOMERS);
    for (i, c) in file.customers.iter().enumerate() {
        trust::check_name("customer", &c.name).expect("accepted customer names are valid");
        assert!(
            !file.customers[..i].iter().any(|o| o.name == c.name),
            "accepted a customer listed twice"
        );
        assert!((1..=lines).contains(&c.line) && (1..=lines).contains(&c.key_line));
        assert!(c.grants.orgs.len() <= trust::MAX_ORGS);
        for (j, g) in c.grants.orgs.iter().enumerate() {
            trust::check_name("org", &g.name).expect("accepted org names are valid");
            assert!(
                !c.grants.orgs[..j]
                    .iter()
                    .any(|o| trust::same_org(&o.name, &g.name)),
                "accepted an org listed twice"
            );
            for l in [&g.vdcs, &g.catalogs].into_iter().flatten() {
                assert!(!l.is_empty() && l.len() <= trust::MAX_NAMES);
            }
        }
        check_grants(&c.grants);
    }

    let source = std::path::Path::new("/etc/odt/trust.toml");
    let keys: Vec<VerifyingKey> = file
        .customers
        .iter()
        .map(|c| fuzz_trust_key(&std::path::Path::new("/etc/odt").join(&c.key)))
        .collect();
    let distinct = keys.iter().enumerate().all(|(i, k)| !keys[..i].contains(k));
    match TrustPolicy::from_file(file.clone(), source, |p| Ok(fuzz_trust_key(p))) {
        Ok(p) => {
            assert!(distinct, "accepted two customers with one key");
            assert_eq!(p.customers().len(), file.customers.len());
            for (c, k) in file.customers.iter().zip(&keys) {
                let found = p.by_key_id(&k.key_id()).expect("each key is found");
                assert_eq!(found.name, c.name);
                assert_eq!(&found.key, k);
            }
        }
        Err(e) => assert!(!distinct, "refused distinct keys: {e}"),
    }
}

/// The allow/refuse invariants of [`fuzz_trust`] for one customer's grants.
fn check_grants(g: &Grants) {
    let off = |s: &str| format!("{s}\u{1}");
    assert_eq!(
        g.refusal(&Target::default()),
        None,
        "refused a VM in no org"
    );
    for o in &g.orgs {
        let first = |l: &Option<Vec<String>>| l.as_ref().map(|v| v[0].clone());
        let good = Target {
            org: Some(o.name.to_ascii_uppercase()),
            vdc: first(&o.vdcs).or_else(|| Some("any-vdc".into())),
            network: Some("any-net".into()),
            catalog: first(&o.catalogs).or_else(|| Some("any-catalog".into())),
            as_template: true,
            power_on: false,
            ..Default::default()
        };
        if let Some(d) = g.refusal(&good) {
            panic!("refused an allowed target {good:?}: {}", d.reason);
        }
        let lower = Target {
            org: Some(o.name.to_ascii_lowercase()),
            ..good.clone()
        };
        assert_eq!(g.refusal(&lower), None, "org case mattered");
        let other_org = Target {
            org: Some(off(&o.name)),
            ..good.clone()
        };
        let d = g.refusal(&other_org).expect("allowed an org not listed");
        assert_eq!(d.org, off(&o.name), "the refusal names another org");
        if o.vdcs.is_some() {
            for vdc in [None, good.vdc.as_deref().map(off)] {
                let t = Target {
                    vdc,
                    ..good.clone()
                };
                assert!(g.refusal(&t).is_some(), "allowed a VDC not listed: {t:?}");
            }
        }
        if o.catalogs.is_some() {
            for catalog in [None, good.catalog.as_deref().map(off)] {
                let t = Target {
                    catalog,
                    ..good.clone()
                };
                assert!(
                    g.refusal(&t).is_some(),
                    "allowed a catalog not listed: {t:?}"
                );
                let not_template = Target {
                    as_template: false,
                    ..t
                };
                assert_eq!(g.refusal(&not_template), None, "a vApp's catalog mattered");
            }
        }
    }
}

// ------------------------------------------------------------------------------- header

/// Fuzzes [`FileHeader::parse`].
///
/// Invariants: parsing never panics; an accepted header has its chunk size in
/// [`CHUNK_LOG2_RANGE`], and [`FileHeader::to_bytes`] gives back exactly the first
/// [`HEADER_LEN`] input bytes (so nothing the parser ignored can differ), which parse to an
/// equal header.
pub fn fuzz_header(data: &[u8]) {
    let Ok(h) = FileHeader::parse(data, "fuzz") else {
        return;
    };
    assert!(
        CHUNK_LOG2_RANGE.contains(&h.chunk_log2),
        "chunk size out of range"
    );
    let b = h.to_bytes();
    assert_eq!(
        &b[..],
        &data[..HEADER_LEN],
        "to_bytes differs from the parsed bytes"
    );
    assert_eq!(FileHeader::parse(&b, "fuzz").expect("to_bytes parses"), h);
    assert!(h.chunk_size() >= 1 << 16 && h.chunk_size() <= 1 << 24);
}

// ----------------------------------------------------------------------------- key files

/// Fuzzes [`keys::parse_key_text`] (input decoded as lossy UTF-8) under each of the four key
/// prefixes, and under the prefix the text itself names before its first `:`.
///
/// Invariants: parsing never panics; the text is accepted under at most one of the four
/// prefixes; and a key accepted under a prefix, written back with [`keys::key_line`], parses
/// to the same 32 bytes under that prefix.
pub fn fuzz_key_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut accepted = 0;
    for p in [
        SIGN_SECRET_PREFIX,
        SIGN_PUBLIC_PREFIX,
        X25519_SECRET_PREFIX,
        X25519_PUBLIC_PREFIX,
    ] {
        if let Ok(k) = keys::parse_key_text(&text, p) {
            accepted += 1;
            key_line_round_trips(p, &k);
        }
    }
    assert!(
        accepted <= 1,
        "one key text accepted under {accepted} prefixes"
    );
    if let Some((p, _)) = text.trim_start().split_once(':') {
        if let Ok(k) = keys::parse_key_text(&text, p) {
            key_line_round_trips(p, &k);
        }
    }
}

fn key_line_round_trips(prefix: &str, k: &[u8; 32]) {
    let line = keys::key_line(prefix, k);
    let back = match keys::parse_key_text(&line, prefix) {
        Ok(b) => b,
        Err(e) => panic!("key_line output for prefix {prefix:?} does not parse: {e}"),
    };
    assert_eq!(
        &*back, k,
        "key_line/parse_key_text round trip changed the key"
    );
}

// -------------------------------------------------------------------------------- stanza

/// Fuzzes a key stanza: JSON into [`Stanza`], then [`Stanza::check`] and [`Stanza::open`].
///
/// Invariants: nothing panics; a parsed stanza serialises to JSON that parses back to an equal
/// stanza; opening with the fixed X25519 identity fails exactly when `check` fails (it never
/// fails for a well-formed stanza, whatever its type); opening with the fixed passphrase fails
/// whenever `check` fails, and succeeds (opens or reports "not mine") for a well-formed
/// stanza. Argon2id is only run when the stanza's parameters are the cheapest accepted
/// ([`KdfParams::MIN_MEMORY_KIB`], at most 2 passes), to keep the fuzzer fast; dearer
/// well-formed passphrase stanzas are not opened.
pub fn fuzz_stanza(data: &[u8]) {
    let Ok(s) = serde_json::from_slice::<Stanza>(data) else {
        return;
    };
    let json = serde_json::to_vec(&s).expect("a stanza serialises");
    let back: Stanza = match serde_json::from_slice(&json) {
        Ok(b) => b,
        Err(e) => panic!("serialised stanza does not parse: {e}"),
    };
    assert_eq!(back, s, "stanza changed in a JSON round trip");

    let well_formed = s.check().is_ok();
    let by_identity = s.open(&JOB_ID, &Unlock::Identity(identity()));
    assert_eq!(
        by_identity.is_ok(),
        well_formed,
        "open with an identity disagrees with check: {:?}",
        by_identity.err()
    );
    let cheap = match &s {
        Stanza::Argon2id { params, .. } => {
            params.memory_kib == KdfParams::MIN_MEMORY_KIB && params.iterations <= 2
        }
        Stanza::X25519 { .. } => true,
    };
    if !well_formed || cheap {
        let by_pass = s.open(&JOB_ID, &Unlock::Passphrase(PASSPHRASE));
        assert_eq!(
            by_pass.is_ok(),
            well_formed,
            "open with a passphrase disagrees with check: {:?}",
            by_pass.err()
        );
    }
}

// ------------------------------------------------------------------------------- decrypt

/// One file of the decryption fixture.
struct FixtureFile {
    entry: FileEntry,
    header: FileHeader,
    plain: Vec<u8>,
    cipher: Vec<u8>,
}

/// A manifest with one VM whose files were encrypted under [`DATA_KEY`].
struct Fixture {
    manifest: JobManifest,
    key: DataKey,
    files: Vec<FixtureFile>,
}

/// Deterministic, non-repeating-looking plaintext.
fn fixture_plain(index: usize, size: u64) -> Vec<u8> {
    let mut x = 0x2545_F491_4F6C_DD1D_u64 ^ (index as u64 + 1);
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Encrypts `plain` as the stream `stream` with `header`, exactly as the exporter lays it out.
fn seal_stream(key: &DataKey, stream: &str, header: &FileHeader, plain: &[u8]) -> Vec<u8> {
    let g = Geometry {
        plain_size: plain.len() as u64,
        chunk_size: header.chunk_size() as u64,
    };
    let sk = StreamKey::new(key, &JOB_ID, stream, header);
    let mut sealer = sk.sealer();
    let mut out = header.to_bytes().to_vec();
    let mut buf = Vec::new();
    for i in 0..g.chunks() {
        let start = (i * g.chunk_size) as usize;
        buf.clear();
        buf.extend_from_slice(&plain[start..start + g.plain_len(i) as usize]);
        let sealed = sealer.seal_next(i + 1 == g.chunks(), &mut buf);
        assert_eq!(
            sealed,
            Ok(i),
            "chunks are sealed in order, the last one last"
        );
        out.extend_from_slice(&buf);
    }
    out
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let key = DataKey::from_bytes(DATA_KEY);
        let dir = "vm-000";
        let mut files = Vec::new();
        for (i, (name, size)) in FIXTURE_FILES.into_iter().enumerate() {
            let header = FileHeader {
                chunk_log2: FIXTURE_CHUNK_LOG2,
                salt: [0x40 + i as u8; 16],
            };
            let plain = fixture_plain(i, size);
            let cipher = seal_stream(&key, &format!("{dir}/{name}"), &header, &plain);
            let g = Geometry {
                plain_size: size,
                chunk_size: header.chunk_size() as u64,
            };
            assert_eq!(cipher.len() as u64, g.encrypted_size());
            let entry = FileEntry {
                name: name.into(),
                size,
                encrypted_size: g.encrypted_size(),
                chunks: g.chunks(),
                header: hex::encode(header.to_bytes()),
                chunk_digests_sha256: hex::encode([0x11; 32]),
            };
            files.push(FixtureFile {
                entry,
                header,
                plain,
                cipher,
            });
        }
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
        let stanzas = vec![Stanza::x25519(
            &key,
            &JOB_ID,
            &identity().recipient(),
            &mut rng,
        )];
        let vm = VmEntry {
            name: "fuzz vm".into(),
            dir: dir.into(),
            source_kind: "ovf".into(),
            source_name: "vm".into(),
            descriptor: "vm.ovf".into(),
            mf: "vm.mf".into(),
            target: Target {
                org: Some("org".into()),
                vdc: Some("vdc".into()),
                network: Some("corp-lan".into()),
                catalog: None,
                as_template: false,
                power_on: true,
                ..Default::default()
            },
            summary: VmSummary {
                virtual_systems: vec!["vm".into()],
                disk_capacities: vec![1 << 30],
                networks: vec!["corp-lan".into()],
                is_vapp: false,
                ..Default::default()
            },
            files: files.iter().map(|f| f.entry.clone()).collect(),
        };
        let manifest = JobManifest {
            format: FORMAT.into(),
            units: None,
            job_id: hex::encode(JOB_ID),
            created: "2026-01-01T00:00:00Z".into(),
            exporter: "odt fuzz fixture".into(),
            signer_key_id: trusted_key().key_id(),
            key_check: stanza::key_check(&key, &JOB_ID),
            stanzas,
            vms: vec![vm],
        };
        Fixture {
            manifest,
            key,
            files,
        }
    })
}

/// Decrypts `bytes` as fixture file `f`, reading `step` bytes at a time. Returns what was read
/// and whether the stream ended cleanly. Asserts the reader never returns more than the
/// file's size.
fn decrypt_fixture(fx: &Fixture, f: &FixtureFile, bytes: &[u8], step: usize) -> (Vec<u8>, bool) {
    let vm = &fx.manifest.vms[0];
    let mut out = Vec::new();
    let Ok(mut r) = DecryptReader::new(bytes, &fx.manifest, &fx.key, vm, &f.entry) else {
        return (out, false);
    };
    let mut buf = vec![0u8; step];
    loop {
        match r.read(&mut buf) {
            Ok(0) => {
                // End of stream is sticky.
                assert!(
                    matches!(r.read(&mut buf), Ok(0)),
                    "data after end of stream"
                );
                return (out, true);
            }
            Ok(n) => {
                assert!(n <= step);
                out.extend_from_slice(&buf[..n]);
                assert!(
                    out.len() as u64 <= f.entry.size,
                    "read {} bytes of a {}-byte file",
                    out.len(),
                    f.entry.size
                );
            }
            Err(_) => return (out, false),
        }
    }
}

/// Applies the edit program `ops` to a copy of `f`'s ciphertext. Each edit starts with an
/// opcode byte; offsets are three bytes, little-endian, taken modulo the current length;
/// chunk numbers are one byte, modulo the file's chunk count.
fn apply_edits(f: &FixtureFile, mut ops: &[u8]) -> Vec<u8> {
    let g = Geometry {
        plain_size: f.entry.size,
        chunk_size: f.header.chunk_size() as u64,
    };
    let chunk = |i: u8| {
        let i = i as u64 % g.chunks();
        let start = g.chunk_offset(i) as usize;
        start..start + g.plain_len(i) as usize + TAG_LEN
    };
    let mut take = |n: usize| {
        let (a, b) = ops.split_at(n.min(ops.len()));
        ops = b;
        a
    };
    let offset = |b: &[u8], len: usize| {
        let v = b.iter().rev().fold(0usize, |a, &x| (a << 8) | x as usize);
        v % len.max(1)
    };
    let mut v = f.cipher.clone();
    loop {
        let Some(&op) = take(1).first() else {
            return v;
        };
        match op % 7 {
            // Set a byte.
            0 => {
                let at = offset(take(3), v.len());
                let val = take(1).first().copied().unwrap_or(0);
                if let Some(b) = v.get_mut(at) {
                    *b = val;
                }
            }
            // Flip a bit.
            1 => {
                let at = offset(take(3), v.len());
                let bit = take(1).first().copied().unwrap_or(0) % 8;
                if let Some(b) = v.get_mut(at) {
                    *b ^= 1 << bit;
                }
            }
            // Truncate.
            2 => {
                let at = offset(take(3), v.len() + 1);
                v.truncate(at);
            }
            // Append up to 255 bytes.
            3 => {
                let n = take(1).first().copied().unwrap_or(0) as usize;
                let bytes = take(n);
                v.extend_from_slice(bytes);
                v.resize(v.len() + (n - bytes.len()), 0);
            }
            // Swap two chunks of equal length (a reordering attack).
            4 => {
                let (a, b) = (take(1), take(1));
                let (ra, rb) = (
                    chunk(a.first().copied().unwrap_or(0)),
                    chunk(b.first().copied().unwrap_or(1)),
                );
                if ra.len() == rb.len() && ra.start < rb.start && rb.end <= v.len() {
                    let (lo, hi) = v.split_at_mut(rb.start);
                    lo[ra].swap_with_slice(&mut hi[..rb.len()]);
                }
            }
            // Duplicate a chunk at another chunk's position (a replay).
            5 => {
                let (a, b) = (take(1), take(1));
                let ra = chunk(a.first().copied().unwrap_or(0));
                let at = chunk(b.first().copied().unwrap_or(0)).start;
                if ra.end <= v.len() && at <= v.len() {
                    let copy = v[ra].to_vec();
                    v.splice(at..at, copy);
                }
            }
            // Delete a chunk.
            _ => {
                let r = chunk(take(1).first().copied().unwrap_or(0));
                if r.end <= v.len() {
                    v.drain(r);
                }
            }
        }
    }
}

/// Fuzzes [`DecryptReader`] over one file of a fixed, correctly encrypted job.
///
/// Byte 0: bit 0 picks the mode, the other bits pick the file (sizes 0 to three chunks of
/// 64 KiB). Byte 1: the read buffer size (1..=255, or 0 for 128 KiB). Then, in raw mode the
/// rest is the encrypted file; in edit mode the rest is an edit program applied to the
/// genuine ciphertext (set or flip bytes, truncate, append, swap, duplicate or delete chunks).
///
/// Invariants: reading never panics and never returns more bytes than the file's size; a
/// stream read to a clean end returned exactly the file's size, and re-encrypting what it
/// returned gives back the input bytes exactly (nothing unauthenticated was accepted). In edit
/// mode, the genuine ciphertext decrypts to the genuine plaintext, any changed ciphertext is
/// rejected, and the bytes released before an error are a prefix of the genuine plaintext.
pub fn fuzz_decrypt(data: &[u8]) {
    let [sel, step, rest @ ..] = data else {
        return;
    };
    let fx = fixture();
    let f = &fx.files[(*sel >> 1) as usize % fx.files.len()];
    let step = match *step {
        0 => 1 << 17,
        n => n as usize,
    };
    let edit = sel & 1 == 1;
    let bytes = if edit {
        apply_edits(f, rest)
    } else {
        rest.to_vec()
    };
    let (out, clean) = decrypt_fixture(fx, f, &bytes, step);
    if clean {
        assert_eq!(
            out.len() as u64,
            f.entry.size,
            "clean end before the file's size"
        );
        let stream = fx.manifest.vms[0].stream_name(&f.entry);
        assert!(
            seal_stream(&fx.key, &stream, &f.header, &out) == bytes,
            "accepted ciphertext that is not the encryption of what it returned"
        );
    }
    if edit {
        let genuine = bytes == f.cipher;
        assert_eq!(clean, genuine, "genuine={genuine} but clean={clean}");
        assert!(
            f.plain.starts_with(&out),
            "released bytes that are not the genuine plaintext"
        );
    }
}

// ------------------------------------------------------------------------------ xml tree

/// Fuzzes [`Element::parse`] (the tree under [`Limits::API_REPLY`]).
///
/// Invariants: parsing never panics; an accepted tree keeps to the limits (depth, attributes
/// per element, element count) and holds no namespace declarations as attributes; and
/// [`xml::to_document`] writes it to a document that parses again to an equal tree, up to the
/// spelling of `xsi:type` values (their prefixes are renamed; the resolved
/// [`Element::xsi_type`] must match). Trees with two attributes of the same expanded name
/// (`p:a` and `q:a`, both prefixes bound to one URI) are exempt from the round trip: the
/// writer gives a namespace one prefix, so it cannot write them. So are trees with a namespace
/// URI that needs escaping (`&`, `<`, `>`, quotes, CR, LF, tab): quick-xml resolves a URI to
/// its declaration's raw bytes, never unescaped, so no escaping the writer chooses reads back
/// the same (real namespace URIs never hold these).
pub fn fuzz_xml_tree(data: &[u8]) {
    let Ok(root) = Element::parse(data) else {
        return;
    };
    let limits = Limits::API_REPLY;
    let mut elements = 0;
    let mut writable = true;
    check_tree(&root, 1, &limits, &mut elements, &mut writable);
    assert!(elements <= limits.max_elements, "{elements} elements");
    if !writable {
        return;
    }
    // A default namespace no input uses, so every namespace is written with a prefix: an
    // unprefixed `xsi:type` QName must keep meaning "no namespace" when read back.
    let style = NamespaceStyle {
        default: "urn:odt:fuzz:unused-default",
        prefixes: &[(xml::XSI_NS, "xsi")],
    };
    let text = xml::to_document(&root, style);
    let again = Element::parse(text.as_bytes())
        .unwrap_or_else(|e| panic!("written tree does not parse ({e}): {text}"));
    assert_eq!(
        without_xsi_type_attrs(&again),
        without_xsi_type_attrs(&root),
        "{text}"
    );
}

fn check_tree(e: &Element, depth: usize, limits: &Limits, count: &mut usize, writable: &mut bool) {
    *count += 1;
    assert!(depth <= limits.max_depth, "depth {depth}");
    assert!(
        e.attrs.len() <= limits.max_attributes,
        "{} attributes",
        e.attrs.len()
    );
    let escapes = |ns: &Option<String>| {
        ns.as_deref()
            .is_some_and(|u| xml::escape_attr(u) != u || u.contains('\''))
    };
    if escapes(&e.ns) || e.xsi_type.as_ref().is_some_and(|t| escapes(&t.ns)) {
        *writable = false;
    }
    for (i, a) in e.attrs.iter().enumerate() {
        if escapes(&a.ns) {
            *writable = false;
        }
        assert!(
            !(a.ns.is_none() && a.name == "xmlns"),
            "a namespace declaration kept as an attribute"
        );
        if e.attrs[..i]
            .iter()
            .any(|b| b.ns == a.ns && b.name == a.name)
        {
            *writable = false;
        }
    }
    for c in &e.children {
        check_tree(c, depth + 1, limits, count, writable);
    }
}

/// `e` without its `xsi:type` attributes, whose values the writer re-prefixes.
fn without_xsi_type_attrs(e: &Element) -> Element {
    let mut e = e.clone();
    e.attrs
        .retain(|a| !(a.ns.as_deref() == Some(xml::XSI_NS) && a.name == "type"));
    e.children = e.children.iter().map(without_xsi_type_attrs).collect();
    e
}

#[cfg(test)]
mod tests {
    //! A cheap stand-in for the fuzzer that runs in `cargo test`: each entry replays a
    //! deterministic set of mutations of valid seeds. The same seeds are written to
    //! `fuzz/seeds/` by [`write_seed_files`].

    use super::*;
    use crate::job::receipt::{ReceiptFile, ReceiptVm, Registered};
    use base64::Engine;

    /// xorshift64: deterministic and dependency-free.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Tokens worth splicing into JSON inputs.
    const JSON_DICT: &[&[u8]] = &[
        b"\"ip_mode\":\"manual\"",
        b"\"ip_mode\":\"dhcp\"",
        b"\"ip_addresses\":[\"10.0.0.5\"]",
        b"\"nics\":[2]",
        b"255.255.255.255",
        b"010.0.0.5",
        b"{",
        b"}",
        b"[]",
        b"[",
        b"]",
        b":",
        b",",
        b"0",
        b"-1",
        b"null",
        b"true",
        b"1e3",
        b"18446744073709551615",
        b"18446744073709551616",
        b"4294967295",
        b"19456",
        b"65536",
        b"\\u0000",
        b"\\ud800",
        b"\\\"",
        b"\"type\":\"x25519\"",
        b"\"type\":\"argon2id\"",
        b"\"memory_kib\":19456",
        b"\"size\":",
        b"\"chunks\":",
        b"vm-000",
        b"../",
        b"/",
        b"AAAA",
        b"====",
    ];

    /// Tokens worth splicing into key files.
    const KEY_DICT: &[&[u8]] = &[
        b"\n",
        b"\r\n",
        b"#",
        b":",
        b" ",
        b"=",
        b"odt-sign-secret-v1:",
        b"odt-x25519-public-v1:",
        b"AAAA",
        b"\xff",
        b"\xe2\x80\x8b",
    ];

    /// Mutates `seed` with 1 to 4 random edits: bit flips, byte sets, inserts, deletes,
    /// truncation, dictionary splices and slice duplication.
    fn mutate(rng: &mut Rng, seed: &[u8], dict: &[&[u8]]) -> Vec<u8> {
        let mut v = seed.to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(v.len() + 1);
            match rng.below(9) {
                0 if at < v.len() => v[at] ^= 1 << rng.below(8),
                1 if at < v.len() => v[at] = rng.next() as u8,
                2 => v.insert(at, rng.next() as u8),
                3 => {
                    let n = (1 + rng.below(8)).min(v.len() - at);
                    v.drain(at..at + n);
                }
                4 => v.truncate(at),
                5 if !dict.is_empty() => {
                    let t = dict[rng.below(dict.len())];
                    v.splice(at..at, t.iter().copied());
                }
                6 if !dict.is_empty() => {
                    let t = dict[rng.below(dict.len())];
                    let end = (at + t.len()).min(v.len());
                    v.splice(at..end, t.iter().copied());
                }
                7 if !v.is_empty() => {
                    let from = rng.below(v.len());
                    let n = (1 + rng.below(32)).min(v.len() - from);
                    let copy = v[from..from + n].to_vec();
                    v.splice(at..at, copy);
                }
                _ if at < v.len() => v[at] = b"0019AZaz\"{}:,\n"[rng.below(14)],
                _ => v.push(rng.next() as u8),
            }
        }
        v
    }

    /// Runs `entry` on each seed, then on `iterations` mutations of the seeds.
    fn replay(
        salt: u64,
        seeds: &[(String, Vec<u8>)],
        dict: &[&[u8]],
        iterations: usize,
        entry: fn(&[u8]),
    ) {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ salt);
        for (_, s) in seeds {
            entry(s);
        }
        for _ in 0..iterations {
            let (_, s) = &seeds[rng.below(seeds.len())];
            let m = mutate(&mut rng, s, dict);
            entry(&m);
        }
    }

    /// Tokens worth splicing into trust files (TOML).
    const TOML_DICT: &[&[u8]] = &[
        b"[[customer]]\n",
        b"[[customer.org]]\n",
        b"[customer]\n",
        b"name = ",
        b"key = ",
        b"vdcs = ",
        b"catalogs = ",
        b"org = ",
        b"\"acme\"",
        b"\"ACME\"",
        b"\"\"",
        b"[]",
        b"[\"a\", \"a\"]",
        b"{ name = \"x\" }",
        b"\n",
        b"=",
        b"#",
        b"'''",
        b"\\u0000",
        b"\\u00e9",
        b"../",
        b"/",
        b".",
    ];

    /// The trust files the `trust` target starts from.
    fn trust_seeds() -> Vec<(String, Vec<u8>)> {
        [
            (
                "example.toml",
                "# /etc/odt/trust.toml\n[[customer]]\nname = \"Acme Corp\"\nkey = \"acme.key.pub\"\n\
                 [[customer.org]]\nname = \"acme\"\nvdcs = [\"acme-vdc\"]        # optional\n\
                 catalogs = [\"acme-catalog\"] # optional\n",
            ),
            (
                "two-customers.toml",
                "[[customer]]\nname = \"Acme Corp\"\nkey = \"keys/acme.key.pub\"\n\
                 [[customer.org]]\nname = \"acme\"\n[[customer.org]]\nname = \"acme-dev\"\n\
                 vdcs = [\"dev-vdc\", \"test-vdc\"]\n\n\
                 [[customer]]\nname = \"Globex\"\nkey = \"/etc/odt/globex.key.pub\"\n\
                 [[customer.org]]\nname = \"globex\"\ncatalogs = [\"golden\"]\n",
            ),
            (
                "inline-tables.toml",
                "customer = [\n  { name = 'Initech', key = './initech.key.pub', org = [\n    \
                 { name = \"initech\", vdcs = ['a', 'b'] },\n    { name = \"\\u00e9quipe\" } ] },\n  \
                 { name = \"No orgs yet\", key = \"\"\"none.key.pub\"\"\" },\n]\n",
            ),
            (
                "same-key-twice.toml",
                "[[customer]]\nname = \"A\"\nkey = \"k.pub\"\n[[customer]]\nname = \"B\"\nkey = \"/etc/odt/k.pub\"\n",
            ),
        ]
        .into_iter()
        .map(|(n, t)| (n.to_string(), t.as_bytes().to_vec()))
        .collect()
    }

    #[test]
    fn trust_seeds_parse_as_intended() {
        let seeds = trust_seeds();
        for (name, s) in &seeds {
            let f = TrustFile::parse(s, name).unwrap_or_else(|e| panic!("{name}: {e}"));
            let p = TrustPolicy::from_file(f, std::path::Path::new("/etc/odt/trust.toml"), |p| {
                Ok(fuzz_trust_key(p))
            });
            assert_eq!(p.is_ok(), name != "same-key-twice.toml", "{name}");
        }
        let f = TrustFile::parse(&seeds[2].1, "i").unwrap();
        assert_eq!(f.customers[0].grants.orgs[1].name, "\u{e9}quipe");
        assert!(f.customers[1].grants.orgs.is_empty());
    }

    #[test]
    fn trust_mutations_hold_invariants() {
        replay(9, &trust_seeds(), TOML_DICT, 20_000, fuzz_trust);
    }

    fn seed_manifest() -> JobManifest {
        fixture().manifest.clone()
    }

    /// A cheap passphrase stanza for the fixed passphrase (one Argon2id run at minimum cost).
    fn cheap_passphrase_stanza() -> Stanza {
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([9; 32]);
        let params = KdfParams {
            memory_kib: KdfParams::MIN_MEMORY_KIB,
            iterations: 1,
            parallelism: 1,
        };
        Stanza::passphrase(&fixture().key, &JOB_ID, PASSPHRASE, params, &mut rng)
            .expect("minimum parameters are accepted")
            .0
    }

    fn manifest_seeds() -> Vec<(String, Vec<u8>)> {
        let m = seed_manifest();
        let mut two = m.clone();
        two.stanzas.push(cheap_passphrase_stanza());
        let mut vm2 = two.vms[0].clone();
        vm2.dir = "vm-001".into();
        vm2.files.truncate(3);
        vm2.target = Target::default();
        vm2.summary = VmSummary::default();
        two.vms.push(vm2);
        let mut small = m.clone();
        small.vms[0].files.truncate(2);
        // The optional IP fields (docs/FORMAT.md §6): MANUAL with its NIC counts.
        let mut manual = small.clone();
        manual.vms[0].target.ip_mode = Some(crate::job::manifest::IpMode::Manual);
        manual.vms[0].target.ip_addresses = vec!["10.0.0.5".into()];
        manual.vms[0].summary.nics = vec![1];
        vec![
            ("fixture.json".into(), m.to_bytes()),
            ("two-vms.json".into(), two.to_bytes()),
            ("small.json".into(), small.to_bytes()),
            ("ip-manual.json".into(), manual.to_bytes()),
        ]
    }

    fn signed_manifest_seeds() -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for (name, m) in manifest_seeds().into_iter().skip(1) {
            let stem = name.trim_end_matches(".json");
            let sig = manifest::sign(signing_key(), &m);
            let mut genuine = vec![0u8];
            genuine.extend_from_slice(&m);
            genuine.push(0);
            genuine.extend_from_slice(&sig);
            out.push((format!("{stem}-with-sig.bin"), genuine));
            let mut signed_here = vec![1u8];
            signed_here.extend_from_slice(&m);
            out.push((format!("{stem}-sign-here.bin"), signed_here));
            let mut tamper = vec![2u8];
            tamper.extend_from_slice(&m);
            tamper.extend_from_slice(&[0, 0, 1, 2]);
            out.push((format!("{stem}-tamper.bin"), tamper));
        }
        out
    }

    /// The receipt a correct import of the decryption fixture's job would produce, signed-for by
    /// the fixed key (its `provider_key_id`): the seed of the `receipt` target.
    fn fixture_receipt() -> Receipt {
        use sha2::Digest;
        let m = &fixture().manifest;
        Receipt {
            format: RECEIPT_FORMAT.into(),
            job_id: m.job_id.clone(),
            manifest_sha256: hex::encode(sha2::Sha256::digest(m.to_bytes())),
            customer_key_id: m.signer_key_id.clone(),
            provider_key_id: Some(trusted_key().key_id()),
            vcenter: "https://vc.example/sdk".into(),
            vcd: Some("https://vcd.example".into()),
            created: "2026-11-21T00:00:00Z".into(),
            vms: m
                .vms
                .iter()
                .map(|vm| ReceiptVm {
                    name: vm.name.clone(),
                    dir: vm.dir.clone(),
                    vcenter_entity: "VirtualMachine:vm-42".into(),
                    vcd: Some(Registered {
                        kind: "vapp".into(),
                        org: "acme".into(),
                        vdc: "acme-vdc".into(),
                        catalog: None,
                        network: Some("acme-net".into()),
                        href: "https://vcd.example/api/vApp/vapp-1".into(),
                        id: Some("urn:vcloud:vapp:1".into()),
                        powered_on: true,
                        storage_profile: Some("gold".into()),
                        requests: vec![crate::job::receipt::StepRequest {
                            step: "import".into(),
                            request_id: format!("odt-{}-{}-import-1f0e", m.job_id, vm.dir),
                        }],
                    }),
                    files: vm
                        .files
                        .iter()
                        .map(|f| ReceiptFile {
                            name: f.name.clone(),
                            size: f.size,
                            digest: Some(format!("SHA256:{}", "ab".repeat(32))),
                        })
                        .collect(),
                })
                .collect(),
            overrides: m
                .vms
                .iter()
                .take(1)
                .map(|vm| crate::job::receipt::Override {
                    vm: vm.name.clone(),
                    dir: vm.dir.clone(),
                    field: "vdc".into(),
                    from: vm.target.vdc.clone(),
                    to: "acme-vdc-2".into(),
                })
                .collect(),
        }
    }

    fn receipt_seeds() -> Vec<(String, Vec<u8>)> {
        let bytes = fixture_receipt().to_bytes();
        let sig = Receipt::sign(&bytes, signing_key());
        let mut genuine = vec![0u8];
        genuine.extend_from_slice(&bytes);
        genuine.push(0);
        genuine.extend_from_slice(&sig);
        let mut signed_here = vec![1u8];
        signed_here.extend_from_slice(&bytes);
        let mut tamper = vec![2u8];
        tamper.extend_from_slice(&bytes);
        tamper.extend_from_slice(&[0, 0, 1, 2]);
        vec![
            ("receipt-with-sig.bin".into(), genuine),
            ("receipt-sign-here.bin".into(), signed_here),
            ("receipt-tamper.bin".into(), tamper),
        ]
    }

    fn unit_index_seeds() -> Vec<(String, Vec<u8>)> {
        use crate::job::unit::{UnitFile, UnitIndex, UNIT_FORMAT};
        let (m, mb) = unit_manifest();
        let vm = &m.vms[0];
        let index = UnitIndex {
            format: UNIT_FORMAT.into(),
            job_id: m.job_id.clone(),
            manifest_sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(mb)),
            unit_id: "11".repeat(16),
            unit: 2,
            units: 2,
            files: vm
                .files
                .iter()
                .take(3)
                .map(|f| UnitFile {
                    dir: vm.dir.clone(),
                    name: f.name.clone(),
                })
                .collect(),
        };
        let bytes = index.to_bytes();
        let sig = UnitIndex::sign(&bytes, signing_key());
        let mut genuine = vec![0u8];
        genuine.extend_from_slice(&bytes);
        genuine.push(0);
        genuine.extend_from_slice(&sig);
        let mut signed_here = vec![1u8];
        signed_here.extend_from_slice(&bytes);
        let mut tamper = vec![2u8];
        tamper.extend_from_slice(&bytes);
        tamper.extend_from_slice(&[0, 0, 1, 2]);
        vec![
            ("unit-with-sig.bin".into(), genuine),
            ("unit-sign-here.bin".into(), signed_here),
            ("unit-tamper.bin".into(), tamper),
        ]
    }

    fn header_seeds() -> Vec<(String, Vec<u8>)> {
        let mut long = FileHeader {
            chunk_log2: 24,
            salt: [0xee; 16],
        }
        .to_bytes()
        .to_vec();
        long.extend_from_slice(b"first chunk...");
        vec![
            (
                "min-chunk.bin".into(),
                fixture().files[0].header.to_bytes().to_vec(),
            ),
            ("max-chunk-and-data.bin".into(), long),
        ]
    }

    fn key_text_seeds() -> Vec<(String, Vec<u8>)> {
        let sk = signing_key();
        let id = identity();
        [
            ("sign-secret.key", SIGN_SECRET_PREFIX, sk.seed()),
            (
                "sign-public.key",
                SIGN_PUBLIC_PREFIX,
                trusted_key().to_bytes(),
            ),
            ("x25519-secret.key", X25519_SECRET_PREFIX, id.secret_bytes()),
            ("x25519-public.key", X25519_PUBLIC_PREFIX, id.recipient().0),
        ]
        .into_iter()
        .map(|(name, prefix, k)| {
            let text = format!(
                "# odt fuzz seed: a fixed, public test key (not a secret)\n# key id: {}\n{}",
                keys::key_id(&k),
                *keys::key_line(prefix, &k)
            );
            (name.to_string(), text.into_bytes())
        })
        .collect()
    }

    fn stanza_seeds() -> Vec<(String, Vec<u8>)> {
        let x = &fixture().manifest.stanzas[0];
        let b64 = base64::engine::general_purpose::STANDARD;
        let dear = Stanza::Argon2id {
            salt: b64.encode([3u8; 16]),
            params: KdfParams::DEFAULT,
            wrapped_key: b64.encode([4u8; 48]),
        };
        vec![
            ("x25519.json".into(), serde_json::to_vec_pretty(x).unwrap()),
            (
                "argon2id-min.json".into(),
                serde_json::to_vec_pretty(&cheap_passphrase_stanza()).unwrap(),
            ),
            (
                "argon2id-default.json".into(),
                serde_json::to_vec(&dear).unwrap(),
            ),
        ]
    }

    fn decrypt_seeds() -> Vec<(String, Vec<u8>)> {
        let fx = fixture();
        let mut out = Vec::new();
        // Raw mode: the genuine small files (well under 64 KiB), read in odd-sized pieces.
        for i in [0u8, 1, 2] {
            let mut v = vec![i << 1, 7];
            v.extend_from_slice(&fx.files[i as usize].cipher);
            let name = fx.files[i as usize].entry.name.replace('.', "-");
            out.push((format!("raw-{name}.bin"), v));
        }
        // Edit mode on the multi-chunk files.
        let sel = |i: u8| (i << 1) | 1;
        out.push(("edit-none-three-chunks.bin".into(), vec![sel(6), 0]));
        out.push(("edit-none-two-chunks-bytewise.bin".into(), vec![sel(5), 1]));
        out.push(("edit-swap-chunks.bin".into(), vec![sel(6), 0, 4, 0, 1]));
        out.push(("edit-replay-chunk.bin".into(), vec![sel(6), 0, 5, 0, 1]));
        out.push(("edit-drop-last-chunk.bin".into(), vec![sel(6), 0, 6, 2]));
        out.push((
            "edit-truncate.bin".into(),
            vec![sel(4), 3, 2, 0x10, 0x00, 0x01],
        ));
        out.push(("edit-append.bin".into(), vec![sel(3), 0, 3, 2, 0xab, 0xcd]));
        out.push(("edit-flip.bin".into(), vec![sel(5), 0, 1, 0x20, 0, 0, 3]));
        out
    }

    #[test]
    fn fixture_decrypts_and_seeds_reach_deep_paths() {
        let fx = fixture();
        JobManifest::parse(&fx.manifest.to_bytes()).expect("fixture manifest is valid");
        for f in &fx.files {
            for step in [1, 4096, 1 << 17] {
                let (out, clean) = decrypt_fixture(fx, f, &f.cipher, step);
                assert!(clean, "{}", f.entry.name);
                assert_eq!(out, f.plain);
            }
        }
        for (_, s) in signed_manifest_seeds().iter().step_by(3) {
            let (m, sig) = s[1..].split_at(s[1..].iter().position(|&b| b == 0).unwrap());
            manifest::verify_signed(m, &sig[1..], trusted_key()).expect("genuine signature");
        }
        for (name, s) in stanza_seeds().into_iter().take(2) {
            let st: Stanza = serde_json::from_slice(&s).unwrap();
            let unlock = if name.starts_with("x25519") {
                Unlock::Identity(identity())
            } else {
                Unlock::Passphrase(PASSPHRASE)
            };
            let k = st
                .open(&JOB_ID, &unlock)
                .unwrap()
                .expect("seed stanza opens");
            assert_eq!(k.expose(), &DATA_KEY);
        }
        for (_, s) in key_text_seeds() {
            let text = String::from_utf8(s).unwrap();
            let prefix = text.lines().last().unwrap().split(':').next().unwrap();
            keys::parse_key_text(&text, prefix).expect("seed key parses");
        }
        FileHeader::parse(&header_seeds()[1].1, "h").expect("seed header parses");
    }

    #[test]
    fn manifest_mutations_hold_invariants() {
        replay(1, &manifest_seeds(), JSON_DICT, 4000, fuzz_manifest);
    }

    #[test]
    fn signed_manifest_mutations_hold_invariants() {
        replay(
            2,
            &signed_manifest_seeds(),
            JSON_DICT,
            4000,
            fuzz_signed_manifest,
        );
    }

    #[test]
    fn receipt_mutations_hold_invariants() {
        replay(8, &receipt_seeds(), JSON_DICT, 3000, fuzz_receipt);
    }

    #[test]
    fn unit_index_mutations_hold_invariants() {
        replay(8, &unit_index_seeds(), JSON_DICT, 3000, fuzz_unit_index);
    }

    /// The seed receipt is about the fixture's job, and one changed size is caught.
    #[test]
    fn the_fixture_receipt_matches_its_manifest_and_a_change_is_named() {
        let manifest = fixture().manifest.to_bytes();
        let r = fixture_receipt();
        r.check_against(&manifest).unwrap();
        let mut wrong = r.clone();
        wrong.vms[0].files[3].size += 1;
        wrong.vms[0].files.pop();
        let e = wrong.check_against(&manifest).unwrap_err().to_string();
        assert!(
            e.contains("vm-000/edge.bin has 65535 bytes in the manifest but 65536"),
            "{e}"
        );
        assert!(
            e.contains("vm-000/three-chunks.vmdk is not in the receipt"),
            "{e}"
        );
        // Listing a VM or a file twice is refused too.
        let mut twice = r.clone();
        twice.vms.push(r.vms[0].clone());
        let dup = twice.vms[0].files[0].clone();
        twice.vms[0].files.push(dup);
        let e = twice.check_against(&manifest).unwrap_err().to_string();
        assert!(e.contains("vm-000 is listed twice in the receipt"), "{e}");
        assert!(
            e.contains("vm-000/vm.ovf is listed twice in the receipt"),
            "{e}"
        );
    }

    #[test]
    fn header_mutations_hold_invariants() {
        replay(
            3,
            &header_seeds(),
            &[b"ODTENC01", b"\0", b"\x10", b"\x18"],
            5000,
            fuzz_header,
        );
    }

    #[test]
    fn key_text_mutations_hold_invariants() {
        replay(4, &key_text_seeds(), KEY_DICT, 5000, fuzz_key_text);
    }

    #[test]
    fn stanza_mutations_hold_invariants() {
        // Without the passphrase seed most mutations stay on cheap paths; it gets its own,
        // shorter run because each well-formed mutation costs an Argon2id derivation.
        let seeds = stanza_seeds();
        let (pass, rest): (Vec<_>, Vec<_>) = seeds
            .into_iter()
            .partition(|(n, _)| n == "argon2id-min.json");
        replay(5, &rest, JSON_DICT, 4000, fuzz_stanza);
        replay(6, &pass, JSON_DICT, 400, fuzz_stanza);
    }

    #[test]
    fn decrypt_mutations_hold_invariants() {
        replay(
            7,
            &decrypt_seeds(),
            &[&[4, 0, 1], &[5, 1, 0], &[6, 1], &[2]],
            3000,
            fuzz_decrypt,
        );
    }

    /// Tokens worth splicing into XML inputs.
    const XML_DICT: &[&[u8]] = &[
        b"<",
        b">",
        b"/>",
        b"</",
        b"=\"",
        b"\"",
        b":",
        b" xmlns=\"urn:a\"",
        b" xmlns:p=\"urn:a\"",
        b" xmlns:q=\"urn:a\"",
        b" xmlns=\"\"",
        b" p:a=\"1\"",
        b" xsi:type=\"p:T\"",
        b" xsi:type=\"T\"",
        b" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"",
        b"xml:lang",
        b"&amp;",
        b"&#13;",
        b"&#x10FFFF;",
        b"&x;",
        b"<![CDATA[",
        b"]]>",
        b"<!DOCTYPE a>",
        b"<?pi?>",
        b"<!---->",
        b"\r\n",
        b"\xef\xbb\xbf",
    ];

    /// The XML documents the `xml_tree` target starts from: a vim reply with vcsim's odd
    /// prefixes and a vCD section with foreign namespaces.
    fn xml_tree_seeds() -> Vec<(String, Vec<u8>)> {
        [
            (
                "vim-reply.xml",
                r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><R xmlns="urn:vim25"><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="xsd:string">DC0 &amp; co</val><v2 xsi:type="ArrayOfManagedObjectReference"><ManagedObjectReference type="Network">network-7</ManagedObjectReference></v2></R></soapenv:Body></soapenv:Envelope>"#,
            ),
            (
                "vcd-section.xml",
                r#"<?xml version="1.0" encoding="UTF-8"?>
<NetworkConfigSection xmlns="http://www.vmware.com/vcloud/v1.5" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:x="urn:unknown" href="h" ovf:required="false" x:extra="1"><ovf:Info>The configuration parameters</ovf:Info><Link rel="edit" href="h"/><x:Thing a="b" xml:lang="en">t &amp; u<![CDATA[<raw>]]></x:Thing><NetworkConfig networkName="VM Network"><Configuration><FenceMode>bridged</FenceMode></Configuration><IsDeployed>false</IsDeployed></NetworkConfig></NetworkConfigSection>"#,
            ),
        ]
        .into_iter()
        .map(|(n, s)| (n.to_owned(), s.as_bytes().to_vec()))
        .collect()
    }

    #[test]
    fn xml_tree_mutations_hold_invariants() {
        replay(8, &xml_tree_seeds(), XML_DICT, 5000, fuzz_xml_tree);
    }

    /// Regression (found while building these targets): a file entry with `size` near
    /// `u64::MAX` made `JobManifest::parse` overflow computing the encrypted size; it must be
    /// rejected as malformed instead.
    #[test]
    fn regression_manifest_geometry_overflow() {
        let mut m = seed_manifest();
        let f = &mut m.vms[0].files[1];
        f.size = u64::MAX;
        f.chunks = 1 << 48;
        f.encrypted_size = 0;
        fuzz_manifest(&m.to_bytes());
    }

    /// Regression: an accepted manifest with two files of 2^63 bytes must not overflow
    /// `JobManifest::encrypted_bytes`.
    #[test]
    fn regression_manifest_encrypted_bytes_overflow() {
        let mut m = seed_manifest();
        m.vms[0].files.truncate(2);
        for f in &mut m.vms[0].files {
            f.size = 1 << 63;
            f.chunks = f.size >> FIXTURE_CHUNK_LOG2;
            f.encrypted_size = HEADER_LEN as u64 + f.chunks * TAG_LEN as u64 + f.size;
        }
        fuzz_manifest(&m.to_bytes());
    }

    /// Writes the seeds above to `fuzz/seeds/<target>/`. Run after changing them:
    /// `cargo test -p odt-format --lib fuzzing::tests::write_seed_files -- --ignored`.
    #[test]
    #[ignore = "writes files: run by hand to refresh fuzz/seeds"]
    fn write_seed_files() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        for (target, seeds) in [
            ("manifest", manifest_seeds()),
            ("signed_manifest", signed_manifest_seeds()),
            ("header", header_seeds()),
            ("key_text", key_text_seeds()),
            ("stanza", stanza_seeds()),
            ("decrypt", decrypt_seeds()),
            ("receipt", receipt_seeds()),
            ("unit_index", unit_index_seeds()),
            ("trust", trust_seeds()),
            ("xml_tree", xml_tree_seeds()),
        ] {
            let dir = root.join(target);
            std::fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in seeds {
                assert!(
                    bytes.len() < 64 << 10,
                    "{target}/{name} is too large for a seed"
                );
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }
}
