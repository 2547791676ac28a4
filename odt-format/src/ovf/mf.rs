//! The OVF `.mf` manifest: one `ALGO(filename)= hexdigest` line per file of the package.
//!
//! The manifest is the package author's own statement of what each file should hash to.
//! `odt-export verify --deep` checks decrypted files against it, and the exporter writes one
//! when a source package lacks it, so both parsing and writing live here.
//!
//! Parsing follows what real tools emit and accept: SHA1, SHA256 or SHA512 (algorithm names
//! in any case), stray spaces around `(`, `)` and `=`, CRLF line ends, trailing whitespace and
//! blank lines. It is strict where leniency would hide tampering: a digest must have exactly
//! the length of its algorithm, a file may be listed only once, and file names must be safe
//! flat names. Writing produces the ovftool form, `SHA256(name)= <lowercase hex>\n`.

use std::collections::HashMap;
use std::fmt::Write as _;

use sha1::Digest as _;

use super::names::file_name_problem;
use super::OvfError;

/// Largest manifest accepted. A line is under 400 bytes, so this allows thousands of files.
pub const MAX_MF_BYTES: usize = 1 << 20;

/// A digest algorithm allowed in `.mf` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlg {
    /// SHA-1 (OVF 1.x default; still written by older ovftool).
    Sha1,
    /// SHA-256 (ovftool's default since 4.x).
    Sha256,
    /// SHA-512.
    Sha512,
}

impl DigestAlg {
    /// The name written in `.mf` lines: `SHA1`, `SHA256` or `SHA512`.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlg::Sha1 => "SHA1",
            DigestAlg::Sha256 => "SHA256",
            DigestAlg::Sha512 => "SHA512",
        }
    }

    /// Length of a digest in bytes (20, 32 or 64).
    pub fn digest_len(self) -> usize {
        match self {
            DigestAlg::Sha1 => 20,
            DigestAlg::Sha256 => 32,
            DigestAlg::Sha512 => 64,
        }
    }

    /// The algorithm named `name`, ignoring ASCII case (`sha256`, `SHA256`, `Sha256`).
    pub fn from_name(name: &str) -> Option<DigestAlg> {
        [DigestAlg::Sha1, DigestAlg::Sha256, DigestAlg::Sha512]
            .into_iter()
            .find(|alg| alg.name().eq_ignore_ascii_case(name))
    }

    /// A fresh incremental hasher for this algorithm.
    pub fn hasher(self) -> MfHasher {
        match self {
            DigestAlg::Sha1 => MfHasher::Sha1(sha1::Sha1::new()),
            DigestAlg::Sha256 => MfHasher::Sha256(sha2::Sha256::new()),
            DigestAlg::Sha512 => MfHasher::Sha512(sha2::Sha512::new()),
        }
    }

    /// The digest of `data` in one call.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = self.hasher();
        h.update(data);
        h.finalize()
    }
}

/// Incremental hashing with any [`DigestAlg`], so that files of many gigabytes can be hashed
/// as they stream past (also usable as an [`std::io::Write`] sink with `io::copy`).
#[derive(Clone)]
pub enum MfHasher {
    /// SHA-1 state.
    Sha1(sha1::Sha1),
    /// SHA-256 state.
    Sha256(sha2::Sha256),
    /// SHA-512 state.
    Sha512(sha2::Sha512),
}

impl std::fmt::Debug for MfHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MfHasher({})", self.alg().name())
    }
}

impl MfHasher {
    /// The algorithm this hasher computes.
    pub fn alg(&self) -> DigestAlg {
        match self {
            MfHasher::Sha1(_) => DigestAlg::Sha1,
            MfHasher::Sha256(_) => DigestAlg::Sha256,
            MfHasher::Sha512(_) => DigestAlg::Sha512,
        }
    }

    /// Feeds `data` into the hash.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            MfHasher::Sha1(h) => h.update(data),
            MfHasher::Sha256(h) => h.update(data),
            MfHasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed in, [`DigestAlg::digest_len`] bytes long.
    pub fn finalize(self) -> Vec<u8> {
        match self {
            MfHasher::Sha1(h) => h.finalize().to_vec(),
            MfHasher::Sha256(h) => h.finalize().to_vec(),
            MfHasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

impl std::io::Write for MfHasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One manifest line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfEntry {
    /// Digest algorithm.
    pub alg: DigestAlg,
    /// File name inside the package (a safe flat name when parsed).
    pub file: String,
    /// Raw digest bytes, [`DigestAlg::digest_len`] long when parsed.
    pub digest: Vec<u8>,
}

/// A parsed `.mf` manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mf {
    /// Entries in file order.
    pub entries: Vec<MfEntry>,
}

impl Mf {
    /// Parses a manifest.
    ///
    /// # Errors
    ///
    /// [`OvfError::MfTooLarge`] over [`MAX_MF_BYTES`]; otherwise an error naming the 1-based
    /// line: bad syntax or non-UTF-8 ([`OvfError::MfSyntax`]), an unknown algorithm, a digest
    /// of the wrong length, a repeated file name, or an unsafe file name.
    pub fn parse(data: &[u8]) -> Result<Mf, OvfError> {
        if data.len() > MAX_MF_BYTES {
            return Err(OvfError::MfTooLarge {
                size: data.len(),
                limit: MAX_MF_BYTES,
            });
        }
        let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let mut entries = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (index, raw) in data.split(|&b| b == b'\n').enumerate() {
            let line = index + 1;
            let text = std::str::from_utf8(raw).map_err(|_| OvfError::MfSyntax {
                line,
                reason: "line is not valid UTF-8".to_owned(),
            })?;
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let entry = parse_line(text, line)?;
            if let Some(&first_line) = seen.get(&entry.file) {
                return Err(OvfError::MfDuplicate {
                    line,
                    first_line,
                    file: entry.file,
                });
            }
            seen.insert(entry.file.clone(), line);
            entries.push(entry);
        }
        Ok(Mf { entries })
    }

    /// The entry for `file`, if listed.
    pub fn get(&self, file: &str) -> Option<&MfEntry> {
        self.entries.iter().find(|e| e.file == file)
    }

    /// The manifest in ovftool form: `SHA256(name)= <lowercase hex>\n` per entry, in order.
    ///
    /// Entries are written as given; parsing the output gives the same entries back provided
    /// the names are safe flat names and the digests have their algorithm's length, which is
    /// always the case for a parsed [`Mf`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        for e in &self.entries {
            // Writing to a String cannot fail.
            let _ = writeln!(
                out,
                "{}({})= {}",
                e.alg.name(),
                e.file,
                hex::encode(&e.digest)
            );
        }
        out.into_bytes()
    }
}

/// Parses one trimmed, non-empty line.
fn parse_line(text: &str, line: usize) -> Result<MfEntry, OvfError> {
    let syntax = |reason: &str| OvfError::MfSyntax {
        line,
        reason: reason.to_owned(),
    };
    // The digest never contains '=', but a file name may: split at the last one.
    let (left, hex_part) = text
        .rsplit_once('=')
        .ok_or_else(|| syntax("no '=' between the file name and the digest"))?;
    let left = left.trim_end();
    let hex_part = hex_part.trim();
    let (algorithm, rest) = left
        .split_once('(')
        .ok_or_else(|| syntax("no '(' after the algorithm name"))?;
    let file = rest
        .strip_suffix(')')
        .ok_or_else(|| syntax("no ')' before the '='"))?;
    let algorithm = algorithm.trim();
    let alg = DigestAlg::from_name(algorithm).ok_or_else(|| OvfError::MfUnknownAlgorithm {
        line,
        algorithm: algorithm.to_owned(),
    })?;
    if let Some(reason) = file_name_problem(file) {
        return Err(OvfError::MfUnsafeName {
            line,
            name: file.to_owned(),
            reason,
        });
    }
    let expected = alg.digest_len() * 2;
    if hex_part.len() != expected {
        return Err(OvfError::MfDigestLength {
            line,
            file: file.to_owned(),
            algorithm: alg.name(),
            expected,
            found: hex_part.chars().count(),
        });
    }
    let digest = hex::decode(hex_part).map_err(|_| {
        syntax(&format!(
            "digest for {file:?} is not hexadecimal (expected {expected} digits 0-9, a-f)"
        ))
    })?;
    Ok(MfEntry {
        alg,
        file: file.to_owned(),
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA1: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const ABC_SHA512: &str = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
                              2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";

    #[test]
    fn known_answers() {
        assert_eq!(hex::encode(DigestAlg::Sha1.digest(b"")), EMPTY_SHA1);
        assert_eq!(hex::encode(DigestAlg::Sha256.digest(b"")), EMPTY_SHA256);
        assert_eq!(hex::encode(DigestAlg::Sha512.digest(b"abc")), ABC_SHA512);
        for alg in [DigestAlg::Sha1, DigestAlg::Sha256, DigestAlg::Sha512] {
            assert_eq!(alg.digest(b"x").len(), alg.digest_len());
            assert_eq!(alg.hasher().alg(), alg);
        }
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for alg in [DigestAlg::Sha1, DigestAlg::Sha256, DigestAlg::Sha512] {
            let mut h = alg.hasher();
            for chunk in data.chunks(97) {
                h.update(chunk);
            }
            assert_eq!(h.finalize(), alg.digest(&data));
            let mut w = alg.hasher();
            std::io::copy(&mut &data[..], &mut w).unwrap();
            assert_eq!(w.finalize(), alg.digest(&data));
        }
    }

    #[test]
    fn algorithm_names() {
        assert_eq!(DigestAlg::from_name("sha256"), Some(DigestAlg::Sha256));
        assert_eq!(DigestAlg::from_name("Sha1"), Some(DigestAlg::Sha1));
        assert_eq!(DigestAlg::from_name("SHA512"), Some(DigestAlg::Sha512));
        assert_eq!(DigestAlg::from_name("MD5"), None);
        assert_eq!(DigestAlg::from_name("SHA-256"), None);
        assert_eq!(DigestAlg::from_name(""), None);
    }

    #[test]
    fn parses_ovftool_output() {
        let text = format!(
            "SHA256(web01.ovf)= {EMPTY_SHA256}\nSHA256(web01-disk1.vmdk)= {}\n",
            "AB".repeat(32)
        );
        let mf = Mf::parse(text.as_bytes()).unwrap();
        assert_eq!(mf.entries.len(), 2);
        assert_eq!(mf.entries[0].alg, DigestAlg::Sha256);
        assert_eq!(mf.entries[0].file, "web01.ovf");
        assert_eq!(hex::encode(&mf.entries[0].digest), EMPTY_SHA256);
        assert_eq!(mf.get("web01-disk1.vmdk").unwrap().digest, vec![0xAB; 32]);
        assert!(mf.get("other").is_none());
    }

    #[test]
    fn tolerates_real_world_formatting() {
        let text = format!(
            "\u{feff}sha1(a.ovf)={EMPTY_SHA1}\r\n\
             \r\n\
             SHA256 (b.vmdk) = {EMPTY_SHA256}   \r\n\
             \t SHA512(c d.nvram)   =   {ABC_SHA512}\t\n\
             \n\n   \n"
        );
        let mf = Mf::parse(text.as_bytes()).unwrap();
        let names: Vec<_> = mf.entries.iter().map(|e| e.file.as_str()).collect();
        assert_eq!(names, ["a.ovf", "b.vmdk", "c d.nvram"]);
        assert_eq!(mf.entries[0].alg, DigestAlg::Sha1);
        assert_eq!(mf.entries[2].alg, DigestAlg::Sha512);
        // No trailing newline is fine too.
        let text = format!("SHA1(x)= {EMPTY_SHA1}");
        assert_eq!(Mf::parse(text.as_bytes()).unwrap().entries.len(), 1);
        assert_eq!(Mf::parse(b"").unwrap(), Mf::default());
    }

    #[test]
    fn names_with_parentheses_and_equals() {
        let text = format!("SHA1(vm (copy)=1.ovf)= {EMPTY_SHA1}\n");
        let mf = Mf::parse(text.as_bytes()).unwrap();
        assert_eq!(mf.entries[0].file, "vm (copy)=1.ovf");
        assert_eq!(Mf::parse(&mf.to_bytes()).unwrap(), mf);
    }

    #[test]
    fn writes_ovftool_style() {
        let mf = Mf {
            entries: vec![
                MfEntry {
                    alg: DigestAlg::Sha256,
                    file: "vm.ovf".into(),
                    digest: DigestAlg::Sha256.digest(b""),
                },
                MfEntry {
                    alg: DigestAlg::Sha1,
                    file: "vm-disk1.vmdk".into(),
                    digest: vec![0xAB; 20],
                },
            ],
        };
        let out = String::from_utf8(mf.to_bytes()).unwrap();
        assert_eq!(
            out,
            format!(
                "SHA256(vm.ovf)= {EMPTY_SHA256}\nSHA1(vm-disk1.vmdk)= {}\n",
                "ab".repeat(20)
            )
        );
        assert_eq!(Mf::parse(out.as_bytes()).unwrap(), mf);
    }

    #[test]
    fn round_trips() {
        let text = format!(
            "sha512(z)={ABC_SHA512}\r\nSha1( ok )= {}\nSHA256(-dash)= {EMPTY_SHA256}\n",
            EMPTY_SHA1.to_uppercase()
        );
        let mf = Mf::parse(text.as_bytes()).unwrap();
        // Spaces inside the parentheses belong to the name.
        assert_eq!(mf.entries[1].file, " ok ");
        let again = Mf::parse(&mf.to_bytes()).unwrap();
        assert_eq!(again, mf);
        assert_eq!(again.to_bytes(), mf.to_bytes());
    }

    fn err(text: &str) -> OvfError {
        Mf::parse(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let good = format!("SHA1(a)= {EMPTY_SHA1}\n");
        for bad in [
            "garbage",
            "SHA1 a = 00",
            "SHA1(a = 00",
            "SHA1 a)= 00",
            "(a)= 00",
        ] {
            let e = err(&format!("{good}\n{bad}\n"));
            match &e {
                OvfError::MfSyntax { line: 3, .. }
                | OvfError::MfUnknownAlgorithm { line: 3, .. } => {}
                other => panic!("{bad:?}: {other:?}"),
            }
            assert!(e.to_string().contains("line 3"), "{e}");
        }
    }

    #[test]
    fn unknown_algorithm() {
        let e = err(&format!("MD5(a)= {}\n", "0".repeat(32)));
        assert!(
            matches!(&e, OvfError::MfUnknownAlgorithm { line: 1, algorithm } if algorithm == "MD5"),
            "{e:?}"
        );
    }

    #[test]
    fn wrong_digest_length() {
        // A SHA1 digest labelled SHA256 must not be accepted.
        let e = err(&format!("SHA256(a)= {EMPTY_SHA1}\n"));
        assert!(
            matches!(
                e,
                OvfError::MfDigestLength {
                    line: 1,
                    expected: 64,
                    found: 40,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(matches!(
            err(&format!("SHA1(a)= {EMPTY_SHA1}0\n")),
            OvfError::MfDigestLength { .. }
        ));
        assert!(matches!(
            err("SHA1(a)=\n"),
            OvfError::MfDigestLength { found: 0, .. }
        ));
        // Right length, not hex.
        assert!(matches!(
            err(&format!("SHA1(a)= {}\n", "zz".repeat(20))),
            OvfError::MfSyntax { line: 1, .. }
        ));
        // Multi-byte characters of the right byte length are not hex either.
        assert!(Mf::parse(format!("SHA1(a)= {}\n", "é".repeat(20)).as_bytes()).is_err());
    }

    #[test]
    fn duplicate_file_is_rejected() {
        let e = err(&format!(
            "SHA1(a)= {EMPTY_SHA1}\nSHA1(b)= {EMPTY_SHA1}\nSHA256(a)= {EMPTY_SHA256}\n"
        ));
        assert!(
            matches!(&e, OvfError::MfDuplicate { line: 3, first_line: 1, file } if file == "a"),
            "{e:?}"
        );
    }

    #[test]
    fn hostile_names_are_rejected() {
        for name in [
            "../x",
            "/etc/passwd",
            "a/b",
            "..",
            ".",
            "",
            "a\\b",
            "tab\there",
        ] {
            let e = err(&format!("SHA1({name})= {EMPTY_SHA1}\n"));
            assert!(
                matches!(e, OvfError::MfUnsafeName { line: 1, .. }),
                "{name:?}: {e:?}"
            );
        }
        // A bare CR inside a line is a control character, not a line end.
        assert!(matches!(
            err(&format!("SHA1(a\rb)= {EMPTY_SHA1}\n")),
            OvfError::MfUnsafeName { .. }
        ));
    }

    #[test]
    fn not_utf8_and_too_large() {
        assert!(matches!(
            Mf::parse(b"\n\nSHA1(\xff)= 00\n"),
            Err(OvfError::MfSyntax { line: 3, .. })
        ));
        let big = vec![b'\n'; MAX_MF_BYTES + 1];
        assert!(matches!(Mf::parse(&big), Err(OvfError::MfTooLarge { .. })));
        let max = vec![b'\n'; MAX_MF_BYTES];
        assert!(Mf::parse(&max).unwrap().entries.is_empty());
    }
}
