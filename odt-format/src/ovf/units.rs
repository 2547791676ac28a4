//! Sizes in OVF descriptors: decimal byte counts, and disk capacities in DMTF allocation
//! units (`byte * 2^30`) or the legacy OVF 1.0 names (`GigaBytes`).

use std::borrow::Cow;

/// A decimal `u64`, surrounding whitespace allowed, no sign.
pub(super) fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `capacity` × `units` in bytes. On error, the attribute at fault and why.
pub(super) fn capacity_bytes(
    capacity: &str,
    units: Option<&str>,
) -> Result<u64, (&'static str, Cow<'static, str>)> {
    let Some(n) = parse_u64(capacity) else {
        let why = if capacity.contains("${") {
            "property references (${...}) are not supported; give the capacity as a number"
        } else {
            "expected a non-negative whole number"
        };
        return Err(("capacity", why.into()));
    };
    let multiplier = match units {
        None => 1,
        Some(u) => allocation_unit_bytes(u).ok_or((
            "capacityAllocationUnits",
            "expected units such as \"byte\", \"byte * 2^30\", \"MegaBytes\" or \"GigaBytes\""
                .into(),
        ))?,
    };
    n.checked_mul(multiplier).ok_or((
        "capacity",
        "capacity times its allocation units overflows 64 bits".into(),
    ))
}

/// Bytes per unit of a `capacityAllocationUnits` value.
///
/// Accepts DMTF programmatic units (`byte`, `byte * 2^30`, `byte*2^20`, `byte * 10^9`,
/// `byte * 1024`, products of such factors) and the legacy OVF 1.0 names `KiloBytes`,
/// `MegaBytes`, `GigaBytes` and `TeraBytes` (binary multiples, as VMware reads them).
/// Case and whitespace are ignored.
pub(crate) fn allocation_unit_bytes(units: &str) -> Option<u64> {
    let norm: String = units
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    let legacy = match norm.as_str() {
        "byte" | "bytes" => Some(1),
        "kilobytes" | "kilobyte" | "kb" => Some(1 << 10),
        "megabytes" | "megabyte" | "mb" => Some(1 << 20),
        "gigabytes" | "gigabyte" | "gb" => Some(1 << 30),
        "terabytes" | "terabyte" | "tb" => Some(1 << 40),
        _ => None,
    };
    if legacy.is_some() {
        return legacy;
    }
    let factors = norm
        .strip_prefix("byte*")
        .or_else(|| norm.strip_prefix("bytes*"))?;
    let mut total: u64 = 1;
    for factor in factors.split('*') {
        let value = match factor.split_once('^') {
            Some((base, exp)) => {
                let base = parse_u64(base)?;
                let exp: u32 = parse_u64(exp)?.try_into().ok()?;
                base.checked_pow(exp)?
            }
            None => parse_u64(factor)?,
        };
        if value == 0 {
            return None;
        }
        total = total.checked_mul(value)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_units() {
        for (u, v) in [
            ("byte", 1),
            ("Bytes", 1),
            ("byte * 2^30", 1 << 30),
            ("byte*2^20", 1 << 20),
            ("  BYTE  *  2 ^ 10 ", 1 << 10),
            ("byte * 10^3", 1000),
            ("byte * 1024", 1024),
            ("byte * 2^10 * 1024", 1 << 20),
            ("KiloBytes", 1 << 10),
            ("MegaBytes", 1 << 20),
            ("GigaBytes", 1 << 30),
            ("TeraBytes", 1 << 40),
            ("byte * 2^63", 1 << 63),
        ] {
            assert_eq!(allocation_unit_bytes(u), Some(v), "{u}");
        }
        for u in [
            "",
            "bit",
            "byte *",
            "byte * 2^",
            "byte * 2^64",
            "byte * 0",
            "byte * -1",
            "byte * 2^99999999999",
            "hertz * 10^6",
            "byte * 2^30 junk",
        ] {
            assert_eq!(allocation_unit_bytes(u), None, "{u}");
        }
    }
}
