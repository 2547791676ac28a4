//! Safe flat file names.
//!
//! An OVF package is a flat set of files: the descriptor's `File ovf:href`s, the `.mf` lines and
//! the OVA members all name files beside the descriptor. These names come from the customer's
//! side and are later joined onto directories on the NAS and on the ODT node, so one check,
//! shared by every reader, keeps `../x`, `/etc/passwd`, `a/b` and terminal-control tricks
//! (control characters, bidi overrides: see [`crate::text`]) out.

use super::OvfError;

/// Longest name accepted, in bytes: the common file-system limit for one path component.
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// Why `name` is not a safe flat file name, or `None` if it is.
pub(crate) fn file_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("name is empty");
    }
    if name.len() > MAX_FILE_NAME_BYTES {
        return Some("name is longer than 255 bytes");
    }
    if name == "." || name == ".." {
        return Some("name is a directory reference");
    }
    if name.contains('/') || name.contains('\\') {
        return Some("name contains a path separator ('/' or '\\')");
    }
    if name.contains('\0') {
        return Some("name contains a NUL byte");
    }
    if name.chars().any(char::is_control) {
        return Some("name contains a control character");
    }
    if name.chars().any(crate::text::is_bidi_control) {
        return Some("name contains a Unicode bidirectional control");
    }
    if name.chars().any(crate::text::is_unsafe_char) {
        return Some("name contains a Unicode line or paragraph separator");
    }
    None
}

/// Checks that `name` is a safe flat file name: non-empty, at most 255 bytes, not `.` or `..`,
/// and free of `/`, `\`, NUL, control characters (C0, DEL and C1), Unicode bidi controls and
/// line or paragraph separators (docs/FORMAT.md §2.1).
///
/// A leading `-` is allowed: names are always joined onto a directory, never passed to a
/// command line on their own.
///
/// # Errors
///
/// [`OvfError::InvalidFileName`] naming the rule that failed.
pub fn validate_file_name(name: &str) -> Result<(), OvfError> {
    match file_name_problem(name) {
        None => Ok(()),
        Some(reason) => Err(OvfError::InvalidFileName {
            name: name.to_owned(),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for n in [
            "vm.ovf",
            "vm-disk1.vmdk",
            "My VM (copy).ovf",
            "-leading-dash.iso",
            "..hidden",
            "a..b",
            "ünïcødé.vmdk",
            &"x".repeat(255),
        ] {
            validate_file_name(n).unwrap_or_else(|e| panic!("{n:?}: {e}"));
        }
    }

    #[test]
    fn rejects_hostile_names() {
        for n in [
            "",
            ".",
            "..",
            "../x",
            "/etc/passwd",
            "a/b",
            "a\\b",
            "C:\\x",
            "nul\0byte",
            "bell\x07",
            "esc\x1b[2J",
            "new\nline",
            "cr\r",
            "del\x7f",
            "c1\u{9b}",
            "rlo\u{202e}gpj.exe",
            "lri\u{2066}",
            "rlm\u{200f}",
            "ls\u{2028}",
            &"x".repeat(256),
        ] {
            let err = validate_file_name(n).unwrap_err();
            assert!(matches!(err, OvfError::InvalidFileName { .. }), "{n:?}");
        }
    }

    #[test]
    fn length_limit_is_in_bytes() {
        // 128 two-byte characters = 256 bytes.
        assert!(validate_file_name(&"é".repeat(128)).is_err());
        assert!(validate_file_name(&"é".repeat(127)).is_ok());
    }

    #[test]
    fn error_message_escapes_control_characters() {
        let msg = validate_file_name("a\x1b[31mred").unwrap_err().to_string();
        assert!(!msg.contains('\x1b'), "{msg}");
        assert!(msg.contains("control character"), "{msg}");
    }
}
