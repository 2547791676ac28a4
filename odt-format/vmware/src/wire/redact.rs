//! URLs made safe to show in errors and messages.
//!
//! A URL can carry a credential in two places: its user info (`https://user:pw@host`) and,
//! for NFC transfers, its path (`/nfc/<ticket>/disk-0.vmdk`: the ticket alone grants access
//! to the disk). Both are always removed. The query is dropped for vSphere URLs (nothing in
//! it is needed to understand an error) and kept for vCD (its query URLs carry the query
//! type and filter, which say what was looked up, and no secrets).

/// `url` without user info, query, fragment or NFC ticket (what vSphere errors show).
pub fn redact_url(url: &str) -> String {
    redact(url, false)
}

/// `url` without user info, fragment or NFC ticket, query kept (what vCD errors show).
pub fn redact_url_keep_query(url: &str) -> String {
    redact(url, true)
}

fn redact(url: &str, keep_query: bool) -> String {
    // A "URL" without a host (`user:pw@host` parses as scheme `user`) is treated as text.
    let Some(u) = reqwest::Url::parse(url).ok().filter(|u| u.has_host()) else {
        return redact_unparsed(url, keep_query);
    };
    let path = u.path().to_string();
    let mut segs: Vec<&str> = path.split('/').collect();
    for i in 0..segs.len() {
        if segs[i].starts_with("nfc") && i + 2 < segs.len() {
            segs[i + 1] = "…";
        }
    }
    // Written out by hand: setting "…" as the path would percent-encode it.
    let mut out = format!("{}://", u.scheme());
    if let Some(h) = u.host_str() {
        out.push_str(h);
    }
    if let Some(p) = u.port() {
        out.push_str(&format!(":{p}"));
    }
    out.push_str(&segs.join("/"));
    if let (true, Some(q)) = (keep_query, u.query()) {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Something that is not a URL but may still hold user info: everything before the last
/// `@` goes, except a scheme in front of it.
fn redact_unparsed(url: &str, keep_query: bool) -> String {
    let cut = if keep_query {
        url.split('#').next()
    } else {
        url.split(['?', '#']).next()
    }
    .unwrap_or("");
    let Some(at) = cut.rfind('@') else {
        return cut.to_string();
    };
    match cut.find("://") {
        Some(s) if s < at => format!("{}{}", &cut[..s + 3], &cut[at + 1..]),
        _ => cut[at + 1..].to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_and_tickets() {
        assert_eq!(
            redact_url("https://user:secret@vc.example:8443/sdk?x=1"),
            "https://vc.example:8443/sdk"
        );
        assert_eq!(
            redact_url("https://esx01/nfc/52a3-ticket/disk-0.vmdk"),
            "https://esx01/nfc/…/disk-0.vmdk"
        );
        assert!(!redact_url("not a url with user:pw@host").contains("pw"));
    }

    #[test]
    fn urls_lose_credentials() {
        use super::redact_url_keep_query as shown_url;
        assert_eq!(
            shown_url("https://admin:pw@vcd.example/api/query?type=vApp#x"),
            "https://vcd.example/api/query?type=vApp"
        );
        assert!(!shown_url("weird admin:pw@host").contains("pw"));
        assert!(!shown_url("https://u:pw@:bad").contains("pw"));
    }

    #[test]
    fn user_info_before_a_late_scheme_is_cut_too() {
        for s in ["u:pw@host://x", "https://u:pw@h:bad:1/nfc/t/d?q"] {
            assert!(!redact_url(s).contains("pw"), "{s}");
            assert!(!redact_url_keep_query(s).contains("pw"), "{s}");
        }
    }
}
