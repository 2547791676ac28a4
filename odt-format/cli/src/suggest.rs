//! "Did you mean": the names closest to a mistyped one (a VM, a job-file key), so an error
//! can list what the operator probably meant instead of everything there is.

/// Up to three of `names` closest to `wanted` (Jaro-Winkler similarity of at least 0.8,
/// ASCII case ignored), best first.
pub fn closest<'a>(wanted: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let wanted = wanted.to_ascii_lowercase();
    let mut scored: Vec<(f64, &str)> = names
        .into_iter()
        .map(|n| (strsim::jaro_winkler(&wanted, &n.to_ascii_lowercase()), n))
        .filter(|(s, _)| *s >= 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

/// `"; did you mean a, b?"` for [`closest`], or empty when nothing is close.
pub fn did_you_mean<'a>(wanted: &str, names: impl IntoIterator<Item = &'a str>) -> String {
    let c = closest(wanted, names);
    if c.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", c.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_its_name_and_nothing_unrelated() {
        let names = ["web-01", "web-02", "db-01", "mail"];
        assert_eq!(closest("web-1", names), vec!["web-01", "web-02"]);
        assert_eq!(
            closest("DB-01", names)[0],
            "db-01",
            "the exact name (case aside) first"
        );
        assert!(closest("zzzzzz", names).is_empty());
        assert_eq!(did_you_mean("mial", names), "; did you mean mail?");
    }
}
