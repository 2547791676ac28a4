//! The provider's trust file (`odt-import --trust FILE`): the customers whose keys the provider
//! trusts, and the vCloud Director orgs (optionally VDCs and catalogs) each key may target.
//!
//! ```toml
//! # /etc/odt/trust.toml
//! [[customer]]
//! name = "Acme Corp"
//! key = "acme.key.pub"            # relative to this file's folder (or absolute)
//! [[customer.org]]
//! name = "acme"
//! vdcs = ["acme-vdc"]             # optional: absent = any VDC of the org
//! catalogs = ["acme-catalog"]     # optional: absent = any catalog of the org
//! ```
//!
//! The file is the provider's own, but it is read as carefully as untrusted input: at most
//! [`MAX_TRUST_FILE_BYTES`], bounded counts, unknown keys are errors (naming the valid ones),
//! a syntax error names its line, and the parser has a fuzz target
//! (`fuzzing::fuzz_trust`). One key belongs to one customer: a key listed twice is an
//! error.
//!
//! **Names.** Org names compare ASCII-case-insensitively ([`same_org`]): vCloud Director treats
//! org names that way (it refuses an org whose name differs from another's only in case, and
//! pyvcloud and vcd-cli look orgs up ignoring case), so `Acme` and `acme` are one org and no
//! other org can answer to both. Letters outside ASCII, VDC names and catalog names compare
//! exactly, as the importer resolves them: a near miss is refused, never widened.
//!
//! This module only reads files; it knows nothing of the network. The importer applies the
//! policy (`odt-import`'s `tenancy` module).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::crypto::keys::VerifyingKey;
use crate::error::{FormatError, Result};
use crate::job::manifest::Target;

/// Largest trust file read (1 MiB).
pub const MAX_TRUST_FILE_BYTES: u64 = 1 << 20;
/// Most `[[customer]]` entries.
pub const MAX_CUSTOMERS: usize = 4096;
/// Most `[[customer.org]]` entries of one customer.
pub const MAX_ORGS: usize = 4096;
/// Most names in one `vdcs` or `catalogs` list.
pub const MAX_NAMES: usize = 4096;
/// Longest name (customer, org, VDC, catalog), in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// True when `a` and `b` name the same vCD org: equal but for the case of ASCII letters.
pub fn same_org(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// What one key may target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// The orgs, each with its optional VDC and catalog limits. Empty: no org at all.
    pub orgs: Vec<OrgGrant>,
}

/// One org a key may target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgGrant {
    /// The org's name.
    pub name: String,
    /// The VDCs of the org it may use; `None`: any.
    pub vdcs: Option<Vec<String>>,
    /// The catalogs of the org it may put templates in; `None`: any.
    pub catalogs: Option<Vec<String>>,
}

/// Why a VM's target is not allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// The org the VM targets.
    pub org: String,
    /// What is not allowed and what is, in a sentence.
    pub reason: String,
}

impl Grants {
    /// Any VDC and catalog of each of `orgs` (`odt-import --allow-org`). `Err` says which
    /// name is not usable.
    pub fn any_vdc_of(orgs: &[String]) -> std::result::Result<Grants, String> {
        let mut g = Grants::default();
        for o in orgs {
            check_name("org", o)?;
            if !g.orgs.iter().any(|x| same_org(&x.name, o)) {
                g.orgs.push(OrgGrant {
                    name: o.clone(),
                    vdcs: None,
                    catalogs: None,
                });
            }
        }
        Ok(g)
    }

    /// The grant for `org`, when it is allowed.
    pub fn org(&self, org: &str) -> Option<&OrgGrant> {
        self.orgs.iter().find(|g| same_org(&g.name, org))
    }

    /// Why a VM with `target` may not land there, or `None` when it may. A target that
    /// names no org lands in no org and is not refused here (registering it in vCD fails
    /// anyway). The VDC is checked when the grant lists VDCs; the catalog when the VM lands
    /// as a template and the grant lists catalogs.
    pub fn refusal(&self, target: &Target) -> Option<Denial> {
        let org = target.org.as_deref()?;
        let deny = |reason: String| {
            Some(Denial {
                org: org.to_owned(),
                reason,
            })
        };
        let Some(g) = self.org(org) else {
            return deny(if self.orgs.is_empty() {
                format!("org {org:?} is not allowed: this key may target no org")
            } else {
                format!(
                    "org {org:?} is not allowed: this key may target only {}",
                    name_list(self.orgs.iter().map(|g| g.name.as_str()))
                )
            });
        };
        if let Some(vdcs) = &g.vdcs {
            match target.vdc.as_deref() {
                Some(v) if vdcs.iter().any(|x| x == v) => {}
                Some(v) => {
                    return deny(format!(
                        "VDC {v:?} of org {org:?} is not allowed: this key may use only {} there",
                        name_list(vdcs.iter().map(String::as_str))
                    ))
                }
                None => {
                    return deny(format!(
                        "it names no VDC of org {org:?}, and this key may use only {} there",
                        name_list(vdcs.iter().map(String::as_str))
                    ))
                }
            }
        }
        if let (Some(cats), true) = (&g.catalogs, target.as_template) {
            match target.catalog.as_deref() {
                Some(c) if cats.iter().any(|x| x == c) => {}
                Some(c) => {
                    return deny(format!(
                        "catalog {c:?} of org {org:?} is not allowed: this key may put templates only in {}",
                        name_list(cats.iter().map(String::as_str))
                    ))
                }
                None => {
                    return deny(format!(
                        "it lands as a template in no named catalog of org {org:?}, and this key may use only {}",
                        name_list(cats.iter().map(String::as_str))
                    ))
                }
            }
        }
        None
    }

    /// The orgs, for messages: `"acme", "acme-dev"` (or `no org`).
    pub fn describe(&self) -> String {
        if self.orgs.is_empty() {
            "no org".into()
        } else {
            name_list(self.orgs.iter().map(|g| g.name.as_str()))
        }
    }
}

/// `"a", "b" and 3 more`: at most 8 names quoted.
fn name_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = names.collect();
    let mut s: Vec<String> = all.iter().take(8).map(|n| format!("{n:?}")).collect();
    if all.len() > 8 {
        s.push(format!("{} more", all.len() - 8));
    }
    s.join(", ")
}

/// A name in the trust file or on the command line: 1 to [`MAX_NAME_BYTES`] bytes, no control
/// characters, no space at either end (a copy-paste slip, never a vCD name).
pub fn check_name(what: &str, s: &str) -> std::result::Result<(), String> {
    if s.is_empty() {
        return Err(format!("{what} name is empty"));
    }
    if s.len() > MAX_NAME_BYTES {
        return Err(format!("{what} name is longer than {MAX_NAME_BYTES} bytes"));
    }
    if s.chars().any(char::is_control) {
        return Err(format!("{what} name {s:?} has a control character"));
    }
    if s.trim() != s {
        return Err(format!("{what} name {s:?} starts or ends with a space"));
    }
    Ok(())
}

// ------------------------------------------------------------------------- the file itself

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    customer: Vec<RawCustomer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCustomer {
    name: Spanned<String>,
    key: Spanned<String>,
    #[serde(default)]
    org: Vec<RawOrg>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrg {
    name: Spanned<String>,
    vdcs: Option<Spanned<Vec<String>>>,
    catalogs: Option<Spanned<Vec<String>>>,
}

/// A parsed trust file, its key files not yet read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustFile {
    /// The `[[customer]]` entries, in file order.
    pub customers: Vec<CustomerEntry>,
}

/// One `[[customer]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerEntry {
    /// Its name (for messages and reports).
    pub name: String,
    /// Its public key file, as written (relative to the trust file's folder, or absolute).
    pub key: PathBuf,
    /// The line of its `name`.
    pub line: usize,
    /// The line of its `key`.
    pub key_line: usize,
    /// What its key may target.
    pub grants: Grants,
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl TrustFile {
    /// Parses the bytes of a trust file; `name` is how errors name it.
    pub fn parse(bytes: &[u8], name: &str) -> Result<TrustFile> {
        let bad = |d: String| FormatError::malformed(format!("trust file {name}"), d);
        if bytes.len() as u64 > MAX_TRUST_FILE_BYTES {
            return Err(bad(format!("larger than {MAX_TRUST_FILE_BYTES} bytes")));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            bad(format!(
                "not UTF-8 text (at line {})",
                line_of(&String::from_utf8_lossy(bytes), e.valid_up_to())
            ))
        })?;
        let raw: RawFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if raw.customer.is_empty() {
            return Err(bad(
                "no [[customer]] entries: list each customer's name, key and orgs".into(),
            ));
        }
        if raw.customer.len() > MAX_CUSTOMERS {
            return Err(bad(format!("more than {MAX_CUSTOMERS} customers")));
        }
        let file = Lines { text, name };
        let mut customers: Vec<CustomerEntry> = Vec::with_capacity(raw.customer.len());
        for c in raw.customer {
            let entry = file.customer(c, &customers)?;
            customers.push(entry);
        }
        Ok(TrustFile { customers })
    }
}

/// The text of one trust file, to turn spans into lines in its errors. Every error names one
/// line (the most specific) and the entry it is in.
struct Lines<'a> {
    text: &'a str,
    /// How errors name the file.
    name: &'a str,
}

impl Lines<'_> {
    fn at(&self, span: std::ops::Range<usize>) -> usize {
        line_of(self.text, span.start)
    }

    fn err(&self, line: usize, d: String) -> FormatError {
        FormatError::malformed(
            format!("trust file {}", self.name),
            format!("line {line}: {d}"),
        )
    }

    /// One `[[customer]]`, checked against the entries before it.
    fn customer(&self, c: RawCustomer, earlier: &[CustomerEntry]) -> Result<CustomerEntry> {
        let line = self.at(c.name.span());
        let cname = c.name.into_inner();
        check_name("customer", &cname).map_err(|e| self.err(line, e))?;
        if let Some(first) = earlier.iter().find(|x| x.name == cname) {
            return Err(self.err(
                line,
                format!(
                    "customer {cname:?} is listed twice (first at line {})",
                    first.line
                ),
            ));
        }
        let key_line = self.at(c.key.span());
        let key = c.key.into_inner();
        if key.is_empty() || key.chars().any(char::is_control) {
            return Err(self.err(
                key_line,
                format!(
                    "customer {cname:?}: key must name its public key file \
                     (KEY.pub from `odt-export keygen`)"
                ),
            ));
        }
        if c.org.len() > MAX_ORGS {
            return Err(self.err(
                line,
                format!("customer {cname:?}: more than {MAX_ORGS} orgs"),
            ));
        }
        let mut grants = Grants::default();
        for o in c.org {
            let org = self.org(&cname, o, &grants)?;
            grants.orgs.push(org);
        }
        Ok(CustomerEntry {
            name: cname,
            key: PathBuf::from(key),
            line,
            key_line,
            grants,
        })
    }

    /// One `[[customer.org]]` of customer `cname`, checked against its orgs before it.
    fn org(&self, cname: &str, o: RawOrg, earlier: &Grants) -> Result<OrgGrant> {
        let oline = self.at(o.name.span());
        let oname = o.name.into_inner();
        let ctx = format!("customer {cname:?}, org {oname:?}");
        check_name("org", &oname)
            .map_err(|e| self.err(oline, format!("customer {cname:?}: {e}")))?;
        if earlier.org(&oname).is_some() {
            return Err(self.err(
                oline,
                format!("{ctx}: listed twice (org names ignore case)"),
            ));
        }
        Ok(OrgGrant {
            vdcs: self.names(&ctx, "vdcs", "VDC", o.vdcs)?,
            catalogs: self.names(&ctx, "catalogs", "catalog", o.catalogs)?,
            name: oname,
        })
    }

    /// An org's optional `vdcs` or `catalogs` list (`key`, of `what`s): absent allows any,
    /// empty is refused (it would allow nothing), names are checked and unique.
    fn names(
        &self,
        ctx: &str,
        key: &str,
        what: &str,
        l: Option<Spanned<Vec<String>>>,
    ) -> Result<Option<Vec<String>>> {
        let Some(l) = l else { return Ok(None) };
        let lline = self.at(l.span());
        let v = l.into_inner();
        let here = |d: String| self.err(lline, format!("{ctx}: {d}"));
        if v.is_empty() {
            return Err(here(format!(
                "{key} = [] allows nothing: leave it out to allow any {what} of the org"
            )));
        }
        if v.len() > MAX_NAMES {
            return Err(here(format!("more than {MAX_NAMES} {key}")));
        }
        for (i, n) in v.iter().enumerate() {
            check_name(what, n).map_err(here)?;
            if v[..i].contains(n) {
                return Err(here(format!("{what} {n:?} is listed twice")));
            }
        }
        Ok(Some(v))
    }
}

// ---------------------------------------------------------------------------- the policy

/// A customer of a loaded trust file.
#[derive(Clone, Debug)]
pub struct TrustedCustomer {
    /// Its name.
    pub name: String,
    /// Its public key file (resolved against the trust file's folder).
    pub key_file: PathBuf,
    /// Its key.
    pub key: VerifyingKey,
    /// The line of its entry.
    pub line: usize,
    /// What its key may target.
    pub grants: Grants,
}

/// A loaded trust file: every customer's key read, no key listed twice.
#[derive(Clone, Debug)]
pub struct TrustPolicy {
    source: PathBuf,
    customers: Vec<TrustedCustomer>,
}

impl TrustPolicy {
    /// Reads the trust file at `path` and every key file it names.
    pub fn load(path: &Path) -> Result<TrustPolicy> {
        let bytes = crate::job::reader::read_bounded(path, MAX_TRUST_FILE_BYTES)?;
        let file = TrustFile::parse(&bytes, &path.display().to_string())?;
        TrustPolicy::from_file(file, path, VerifyingKey::read)
    }

    /// Builds the policy of `file`, read from `source`, with `load_key` reading each key file
    /// (its path resolved against `source`'s folder). Refuses a key listed twice.
    pub fn from_file(
        file: TrustFile,
        source: &Path,
        mut load_key: impl FnMut(&Path) -> Result<VerifyingKey>,
    ) -> Result<TrustPolicy> {
        let base = source.parent().unwrap_or(Path::new(""));
        let name = format!("trust file {}", source.display());
        let mut customers: Vec<TrustedCustomer> = Vec::with_capacity(file.customers.len());
        for c in file.customers {
            let key_file = base.join(&c.key);
            let key = load_key(&key_file).map_err(|e| {
                FormatError::malformed(
                    &name,
                    format!(
                        "line {}: customer {:?}: cannot use its key: {e}",
                        c.key_line, c.name
                    ),
                )
            })?;
            if let Some(o) = customers.iter().find(|o| o.key == key) {
                return Err(FormatError::malformed(
                    &name,
                    format!(
                        "line {}: customer {:?} has the same key ({}, id {}) as customer {:?} \
                         (line {}): one key belongs to one customer; merge their orgs into one entry",
                        c.key_line,
                        c.name,
                        key_file.display(),
                        key.key_id(),
                        o.name,
                        o.line
                    ),
                ));
            }
            customers.push(TrustedCustomer {
                name: c.name,
                key_file,
                key,
                line: c.line,
                grants: c.grants,
            });
        }
        Ok(TrustPolicy {
            source: source.to_owned(),
            customers,
        })
    }

    /// The trust file's path.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Every customer, in file order.
    pub fn customers(&self) -> &[TrustedCustomer] {
        &self.customers
    }

    /// The customer whose key has `key_id`.
    pub fn by_key_id(&self, key_id: &str) -> Option<&TrustedCustomer> {
        self.customers.iter().find(|c| c.key.key_id() == key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::SigningKey;

    const EXAMPLE: &str = r#"# /etc/odt/trust.toml
[[customer]]
name = "Acme Corp"
key = "acme.key.pub"
[[customer.org]]
name = "acme"
vdcs = ["acme-vdc"]
catalogs = ["acme-catalog"]
[[customer.org]]
name = "acme-dev"

[[customer]]
name = "Globex"
key = "/etc/odt/keys/globex.key.pub"
[[customer.org]]
name = "globex"
"#;

    fn key(n: u8) -> VerifyingKey {
        SigningKey::from_seed(&[n; 32]).verifying_key()
    }

    fn target(org: Option<&str>, vdc: Option<&str>, catalog: Option<&str>) -> Target {
        Target {
            org: org.map(Into::into),
            vdc: vdc.map(Into::into),
            catalog: catalog.map(Into::into),
            as_template: catalog.is_some(),
            ..Default::default()
        }
    }

    fn parse_err(text: &str) -> String {
        TrustFile::parse(text.as_bytes(), "t.toml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_example_parses_with_its_lines() {
        let f = TrustFile::parse(EXAMPLE.as_bytes(), "t.toml").unwrap();
        assert_eq!(f.customers.len(), 2);
        let a = &f.customers[0];
        assert_eq!((a.name.as_str(), a.line, a.key_line), ("Acme Corp", 3, 4));
        assert_eq!(a.key, PathBuf::from("acme.key.pub"));
        assert_eq!(a.grants.orgs.len(), 2);
        assert_eq!(a.grants.orgs[0].vdcs, Some(vec!["acme-vdc".to_string()]));
        assert_eq!(a.grants.orgs[1].vdcs, None);
        assert_eq!(f.customers[1].line, 13);
    }

    #[test]
    fn key_paths_resolve_against_the_trust_files_folder() {
        let f = TrustFile::parse(EXAMPLE.as_bytes(), "t.toml").unwrap();
        let mut asked = vec![];
        let p = TrustPolicy::from_file(f, Path::new("/srv/odt/trust.toml"), |path| {
            asked.push(path.to_owned());
            Ok(key(asked.len() as u8))
        })
        .unwrap();
        assert_eq!(
            asked,
            [
                PathBuf::from("/srv/odt/acme.key.pub"),
                PathBuf::from("/etc/odt/keys/globex.key.pub")
            ]
        );
        assert_eq!(p.by_key_id(&key(2).key_id()).unwrap().name, "Globex");
        assert!(p.by_key_id(&key(3).key_id()).is_none());
    }

    #[test]
    fn a_key_listed_twice_is_an_error_naming_both_customers() {
        let f = TrustFile::parse(EXAMPLE.as_bytes(), "t.toml").unwrap();
        let e = TrustPolicy::from_file(f, Path::new("t.toml"), |_| Ok(key(1)))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 14: customer \"Globex\" has the same key"),
            "{e}"
        );
        assert!(e.contains("as customer \"Acme Corp\" (line 3)"), "{e}");
    }

    #[test]
    fn a_key_that_cannot_be_read_names_the_customer_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("trust.toml");
        std::fs::write(&t, EXAMPLE).unwrap();
        let e = TrustPolicy::load(&t).unwrap_err().to_string();
        assert!(
            e.contains("line 4: customer \"Acme Corp\": cannot use its key"),
            "{e}"
        );
        assert!(
            e.contains(&dir.path().join("acme.key.pub").display().to_string()),
            "{e}"
        );
    }

    #[test]
    fn a_typo_lists_the_valid_keys_and_a_syntax_error_names_its_line() {
        let e =
            parse_err("[[customer]]\nname = \"a\"\nkey = \"k\"\n[[customer.orgs]]\nname = \"x\"\n");
        assert!(e.contains("unknown field `orgs`"), "{e}");
        assert!(e.contains("`name`, `key`, `org`"), "{e}");
        let e = parse_err("[[customer]]\nname = \"a\"\nkey = \"k\"\n[[customer.org]]\nname = \"x\"\nvdc = [\"v\"]\n");
        assert!(
            e.contains("unknown field `vdc`") && e.contains("`vdcs`"),
            "{e}"
        );
        let e = parse_err("[[customers]]\n");
        assert!(e.contains("expected `customer`"), "{e}");
        let e =
            parse_err("[[customer]]\nname = \"a\"\nkey = \"k\"\n[[customer.org]]\nname = acme\n");
        assert!(e.contains("line 5"), "{e}");
    }

    #[test]
    fn bad_entries_are_refused_with_their_line() {
        let e = parse_err("");
        assert!(e.contains("no [[customer]] entries"), "{e}");
        let e = parse_err("[[customer]]\nname = \"a\"\n");
        assert!(e.contains("missing field `key`"), "{e}");
        let e = parse_err(
            "[[customer]]\nname = \"a\"\nkey = \"k\"\n[[customer.org]]\nname = \"x\"\nvdcs = []\n",
        );
        assert!(
            e.contains("line 6: customer \"a\", org \"x\": vdcs = [] allows nothing"),
            "{e}"
        );
        let e = parse_err("[[customer]]\nname = \"a\"\nkey = \"k\"\n[[customer.org]]\nname = \"x\"\n[[customer.org]]\nname = \"X\"\n");
        assert!(
            e.contains("line 7: customer \"a\", org \"X\": listed twice"),
            "{e}"
        );
        let e = parse_err(
            "[[customer]]\nname = \"a\"\nkey = \"k\"\n[[customer]]\nname = \"a\"\nkey = \"k2\"\n",
        );
        assert!(
            e.contains("line 5: customer \"a\" is listed twice (first at line 2)"),
            "{e}"
        );
        let e = parse_err("[[customer]]\nname = \"a\"\nkey = \"\"\n");
        assert!(e.contains("line 3: customer \"a\": key must name"), "{e}");
        let e = parse_err("[[customer]]\nname = \" a\"\nkey = \"k\"\n");
        assert!(e.contains("starts or ends with a space"), "{e}");
        let e = parse_err("[[customer]]\nname = \"a\"\nkey = \"k\"\n[[customer.org]]\nname = \"x\"\ncatalogs = [\"c\", \"c\"]\n");
        assert!(e.contains("catalog \"c\" is listed twice"), "{e}");
        let big = "#".repeat(MAX_TRUST_FILE_BYTES as usize + 1);
        assert!(parse_err(&big).contains("larger than"));
        let e = TrustFile::parse(b"[[customer]]\nname = \"\xff\"\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not UTF-8 text (at line 2)"), "{e}");
    }

    #[test]
    fn grants_allow_listed_orgs_ignoring_ascii_case_only() {
        let f = TrustFile::parse(EXAMPLE.as_bytes(), "t.toml").unwrap();
        let g = &f.customers[0].grants;
        assert_eq!(
            g.refusal(&target(Some("acme"), Some("acme-vdc"), None)),
            None
        );
        assert_eq!(
            g.refusal(&target(Some("ACME"), Some("acme-vdc"), None)),
            None
        );
        assert_eq!(
            g.refusal(&target(Some("Acme-Dev"), Some("any"), Some("any"))),
            None
        );
        // Nothing lands in an org: nothing to refuse here.
        assert_eq!(g.refusal(&target(None, None, None)), None);
        let d = g
            .refusal(&target(Some("globex"), Some("globex-vdc"), None))
            .unwrap();
        assert_eq!(d.org, "globex");
        assert!(
            d.reason.contains(
                "org \"globex\" is not allowed: this key may target only \"acme\", \"acme-dev\""
            ),
            "{}",
            d.reason
        );
        // A VDC name is compared exactly; a missing VDC is refused when VDCs are listed.
        let d = g
            .refusal(&target(Some("acme"), Some("ACME-VDC"), None))
            .unwrap();
        assert!(
            d.reason
                .contains("VDC \"ACME-VDC\" of org \"acme\" is not allowed"),
            "{}",
            d.reason
        );
        assert!(g
            .refusal(&target(Some("acme"), None, None))
            .unwrap()
            .reason
            .contains("names no VDC"));
        // The catalog counts only for templates.
        let d = g
            .refusal(&target(Some("acme"), Some("acme-vdc"), Some("other")))
            .unwrap();
        assert!(d.reason.contains("catalog \"other\""), "{}", d.reason);
        let mut t = target(Some("acme"), Some("acme-vdc"), Some("other"));
        t.as_template = false;
        assert_eq!(g.refusal(&t), None);
        t.as_template = true;
        t.catalog = None;
        assert!(g.refusal(&t).unwrap().reason.contains("no named catalog"));
        // Outside ASCII, case is not folded (vCD's rule there is not ours to guess).
        let g = Grants::any_vdc_of(&["équipe".into()]).unwrap();
        assert_eq!(
            g.refusal(&target(Some("ÉQUIPE"), None, None)).unwrap().org,
            "ÉQUIPE"
        );
        assert_eq!(g.refusal(&target(Some("éQUIPE"), None, None)), None);
        // No org at all.
        let none = Grants::default();
        assert!(none
            .refusal(&target(Some("acme"), None, None))
            .unwrap()
            .reason
            .contains("may target no org"));
    }

    #[test]
    fn allow_org_names_are_checked_and_deduplicated() {
        let g = Grants::any_vdc_of(&["acme".into(), "ACME".into(), "b".into()]).unwrap();
        assert_eq!(g.describe(), "\"acme\", \"b\"");
        assert!(Grants::any_vdc_of(&["".into()]).is_err());
        assert!(Grants::any_vdc_of(&["a\nb".into()]).is_err());
    }
}
