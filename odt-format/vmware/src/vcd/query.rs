//! Lookups through the query service (`GET /api/query?type=…&format=records`).
//!
//! Filters are built per version, as vCD reads them: from API 35.0 the filter is encoded
//! once, each value percent-encoded with vCD's special characters `( ) , ;` additionally
//! backslash-escaped (`%5C%28` …); below 35.0 each value is percent-encoded, the whole
//! filter encoded again, and `filterEncoded=true` added. Every page is followed through its
//! `Link rel="nextPage"`. Names are then compared exactly on our side (vCD's `==` treats `*`
//! as a wildcard), and parents (org, VDC, catalog) by UUID, since vCD writes admin hrefs
//! (`/api/admin/vdc/U`) where a caller may hold plain ones (`/api/vdc/U`).

use crate::vsphere::xml::Element;
use crate::wire::redact_url_keep_query;

use super::client::{encode_component, ApiVersion, VcdClient};
use super::error::{Result, VcdError};
use super::xml::{find_link, same_entity, uuid_of};

/// Most records asked for per page (vCD's maximum for records is 128).
pub const PAGE_SIZE: u32 = 128;
/// Most pages followed (a server that keeps answering `nextPage` would loop forever).
pub const MAX_PAGES: usize = 10_000;

/// A named entity: its name, href and UUID.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EntityRef {
    /// Name.
    pub name: String,
    /// Href as vCD gave it (admin or plain).
    pub href: String,
    /// The UUID in the href, lowercased (empty when the href has none).
    pub uuid: String,
}

impl EntityRef {
    /// An entity from its name and href.
    pub fn new(name: impl Into<String>, href: impl Into<String>) -> EntityRef {
        let href = href.into();
        EntityRef {
            name: name.into(),
            uuid: uuid_of(&href).unwrap_or_default(),
            href,
        }
    }
}

/// One record of a query result: its element name (`OrgVdcNetworkRecord`, …) and
/// attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Element name.
    pub kind: String,
    /// Attributes, in order.
    pub attrs: Vec<(String, String)>,
}

impl Record {
    /// The attribute `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `name` and `href` as an [`EntityRef`].
    pub fn entity(&self) -> EntityRef {
        EntityRef::new(
            self.get("name").unwrap_or_default(),
            self.get("href").unwrap_or_default(),
        )
    }

    fn from_element(e: &Element) -> Record {
        Record {
            kind: e.name.clone(),
            attrs: e
                .attrs
                .iter()
                .filter(|a| a.ns.is_none())
                .map(|a| (a.name.clone(), a.value.clone()))
                .collect(),
        }
    }
}

/// A VDC storage profile, from its `AdminOrgVdcStorageProfileRecord`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StorageProfile {
    /// Its name and href (`/api/vdcStorageProfile/{id}`).
    pub entity: EntityRef,
    /// `isEnabled`: vCD places nothing on a disabled profile.
    pub enabled: bool,
    /// `isDefaultStorageProfile`: where a VM goes when the import names no profile.
    pub default: bool,
    /// `storageLimitMB`; 0 means no limit (terraform-provider-vcd: "maximum possible";
    /// vcd-cli: "0 means unlimited").
    pub limit_mb: u64,
    /// `storageUsedMB`.
    pub used_mb: u64,
}

impl StorageProfile {
    fn from_record(r: &Record) -> StorageProfile {
        let num = |n: &str| {
            r.get(n)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        StorageProfile {
            entity: r.entity(),
            enabled: r.get("isEnabled").is_none_or(|v| v == "true"),
            default: r.get("isDefaultStorageProfile") == Some("true"),
            limit_mb: num("storageLimitMB"),
            used_mb: num("storageUsedMB"),
        }
    }

    /// MB left under the limit, `None` when it has none.
    pub fn free_mb(&self) -> Option<u64> {
        (self.limit_mb > 0).then(|| self.limit_mb.saturating_sub(self.used_mb))
    }
}

/// One `attr==value` clause of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause<'a>(pub &'a str, pub &'a str);

/// The query-string parameters for `filter` (empty when there are no clauses), for the API
/// version spoken. Returns the text to append after `&`.
pub fn filter_param(version: ApiVersion, clauses: &[Clause<'_>]) -> String {
    if clauses.is_empty() {
        return String::new();
    }
    if version
        >= (ApiVersion {
            major: 35,
            minor: 0,
        })
    {
        let f: Vec<String> = clauses
            .iter()
            .map(|Clause(k, v)| format!("{k}=={}", escape_special(&encode_component(v))))
            .collect();
        format!("filter={}", f.join(";"))
    } else {
        let f: Vec<String> = clauses
            .iter()
            .map(|Clause(k, v)| format!("{k}=={}", encode_component(v)))
            .collect();
        format!(
            "filterEncoded=true&filter={}",
            encode_component(&f.join(";"))
        )
    }
}

/// vCD 35.0+: the encoded `( ) , ;` of a value are escaped with a backslash (`%5C`), so the
/// server does not read them as filter syntax after decoding.
fn escape_special(encoded: &str) -> String {
    encoded
        .replace("%28", "%5C%28")
        .replace("%29", "%5C%29")
        .replace("%2C", "%5C%2C")
        .replace("%3B", "%5C%3B")
}

impl VcdClient {
    /// Runs a records query of `kind` with the equality `filter`, following every page.
    pub fn query_records(&self, kind: &str, filter: &[Clause<'_>]) -> Result<Vec<Record>> {
        let base = self.query_href();
        let sep = if base.contains('?') { '&' } else { '?' };
        let mut url = format!(
            "{base}{sep}type={}&format=records&page=1&pageSize={PAGE_SIZE}",
            encode_component(kind)
        );
        let f = filter_param(self.api_version(), filter);
        if !f.is_empty() {
            url.push('&');
            url.push_str(&f);
        }
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self.get("QueryResultRecords", &url)?;
            if page.name != "QueryResultRecords" {
                return Err(VcdError::malformed(
                    "query result",
                    redact_url_keep_query(&url),
                    format!("expected <QueryResultRecords>, got <{}>", page.name),
                ));
            }
            out.extend(
                page.children
                    .iter()
                    .filter(|c| c.name != "Link")
                    .map(Record::from_element),
            );
            match find_link(&page, "nextPage", None) {
                Some(next) if next.href != url => url = next.href,
                _ => return Ok(out),
            }
        }
        Err(VcdError::malformed(
            "query result",
            redact_url_keep_query(&url),
            format!("more than {MAX_PAGES} pages"),
        ))
    }

    /// Records named exactly `name` (the filter narrows, the comparison decides).
    fn named(&self, kind: &str, name: &str, extra: &[Clause<'_>]) -> Result<Vec<Record>> {
        let mut f = vec![Clause("name", name)];
        f.extend_from_slice(extra);
        Ok(self
            .query_records(kind, &f)?
            .into_iter()
            .filter(|r| r.get("name") == Some(name))
            .collect())
    }

    /// The organization `name` (`organization` query).
    pub fn find_org(&self, name: &str) -> Result<Option<EntityRef>> {
        let found = self.named("organization", name, &[])?;
        one(
            "organization",
            name,
            found.into_iter().map(|r| r.entity()).collect(),
        )
    }

    /// The org VDC `name` of `org` (`adminOrgVdc` query; the record's `org` compared by
    /// UUID, or, when a record lacks it, the VDC's `rel="up"` org link).
    pub fn find_vdc(&self, org: &EntityRef, name: &str) -> Result<Option<EntityRef>> {
        let mut found = Vec::new();
        for r in self.named("adminOrgVdc", name, &[])? {
            let in_org = match r.get("org") {
                Some(o) => same_entity(o, &org.href),
                None => self.parent_is(&r.entity().href, &org.href)?,
            };
            if in_org {
                found.push(r.entity());
            }
        }
        one(&format!("VDC in org {:?}", org.name), name, found)
    }

    /// The org VDC network `name` of `vdc` (`orgVdcNetwork` query filtered by `vdc`).
    pub fn find_org_vdc_network(&self, vdc: &EntityRef, name: &str) -> Result<Option<EntityRef>> {
        let found: Vec<EntityRef> = self
            .named("orgVdcNetwork", name, &[Clause("vdc", &vdc.href)])?
            .into_iter()
            .filter(|r| r.get("vdc").is_none_or(|v| same_entity(v, &vdc.href)))
            .map(|r| r.entity())
            .collect();
        one(
            &format!("org VDC network in VDC {:?}", vdc.name),
            name,
            found,
        )
    }

    /// The catalog `name` of `org` (`adminCatalog` query; `org` compared by UUID, or the
    /// catalog's `rel="up"` org link when the record lacks it).
    pub fn find_catalog(&self, org: &EntityRef, name: &str) -> Result<Option<EntityRef>> {
        let mut found = Vec::new();
        for r in self.named("adminCatalog", name, &[])? {
            let in_org = match r.get("org") {
                Some(o) => same_entity(o, &org.href),
                None => self.parent_is(&r.entity().href, &org.href)?,
            };
            if in_org {
                found.push(r.entity());
            }
        }
        one(&format!("catalog in org {:?}", org.name), name, found)
    }

    /// True when `vdc` holds a vApp named `name` (`adminVApp` query filtered by `vdc`).
    pub fn vapp_exists(&self, vdc: &EntityRef, name: &str) -> Result<bool> {
        Ok(self.find_vapp(vdc, name)?.is_some())
    }

    /// The vApp `name` in `vdc`.
    pub fn find_vapp(&self, vdc: &EntityRef, name: &str) -> Result<Option<EntityRef>> {
        let found: Vec<EntityRef> = self
            .named("adminVApp", name, &[Clause("vdc", &vdc.href)])?
            .into_iter()
            .filter(|r| r.get("vdc").is_none_or(|v| same_entity(v, &vdc.href)))
            .map(|r| r.entity())
            .collect();
        one(&format!("vApp in VDC {:?}", vdc.name), name, found)
    }

    /// True when `catalog` holds an item named `name` (`adminCatalogItem` query filtered by
    /// `catalog`).
    pub fn catalog_item_exists(&self, catalog: &EntityRef, name: &str) -> Result<bool> {
        Ok(self
            .named(
                "adminCatalogItem",
                name,
                &[Clause("catalog", &catalog.href)],
            )?
            .iter()
            .any(|r| {
                r.get("catalog")
                    .is_none_or(|c| same_entity(c, &catalog.href))
            }))
    }

    /// The storage profiles of `vdc` with their limits and use (`adminOrgVdcStorageProfile`
    /// query filtered by `vdc`, as go-vcloud-director's `QueryAdminOrgVdcStorageProfileByID`
    /// reads them: `QueryResultAdminOrgVdcStorageProfileRecordType`).
    pub fn vdc_storage_profiles(&self, vdc: &EntityRef) -> Result<Vec<StorageProfile>> {
        Ok(self
            .query_records("adminOrgVdcStorageProfile", &[Clause("vdc", &vdc.href)])?
            .iter()
            .filter(|r| r.get("vdc").is_none_or(|v| same_entity(v, &vdc.href)))
            .map(StorageProfile::from_record)
            .collect())
    }

    /// True when the entity at `href` has a `rel="up"` link to the org `parent`.
    fn parent_is(&self, href: &str, parent: &str) -> Result<bool> {
        let e = self.get("entity", href)?;
        Ok(super::xml::links(&e).iter().any(|l| {
            l.rel == "up"
                && (l.media_type.contains("org+xml") || l.media_type.contains("organization+xml"))
                && same_entity(&l.href, parent)
        }))
    }
}

/// At most one match: `None`, the one, or [`VcdError::Ambiguous`].
fn one(what: &str, name: &str, mut found: Vec<EntityRef>) -> Result<Option<EntityRef>> {
    found.dedup_by(|a, b| same_entity(&a.href, &b.href));
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(VcdError::Ambiguous {
            what: format!("{what} named {name:?}"),
            choices: found.into_iter().map(|f| f.href).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_per_version() {
        let href = "https://vcd/api/vdc/1f0e3b1c-6c8a-4d2e-9a1b-0c9d8e7f6a5b";
        let v37 = ApiVersion {
            major: 37,
            minor: 0,
        };
        let v33 = ApiVersion {
            major: 33,
            minor: 0,
        };
        assert_eq!(
            filter_param(v37, &[Clause("name", "web (1);a,b"), Clause("vdc", href)]),
            "filter=name==web%20%5C%281%5C%29%5C%3Ba%5C%2Cb;vdc==https%3A%2F%2Fvcd%2Fapi%2Fvdc%2F1f0e3b1c-6c8a-4d2e-9a1b-0c9d8e7f6a5b"
        );
        assert_eq!(
            filter_param(v33, &[Clause("name", "a;b"), Clause("vdc", "x/y")]),
            "filterEncoded=true&filter=name%3D%3Da%253Bb%3Bvdc%3D%3Dx%252Fy"
        );
        assert_eq!(filter_param(v37, &[]), "");
    }

    #[test]
    fn storage_profile_records() {
        let e = Element::parse(
            br#"<AdminOrgVdcStorageProfileRecord xmlns="http://www.vmware.com/vcloud/v1.5" name="gold" href="https://vcd/api/vdcStorageProfile/p1" vdc="https://vcd/api/vdc/v1" isEnabled="true" isDefaultStorageProfile="true" storageLimitMB="1024" storageUsedMB="1500"/>"#,
        )
        .unwrap();
        let p = StorageProfile::from_record(&Record::from_element(&e));
        assert_eq!(p.entity.name, "gold");
        assert!(p.enabled && p.default);
        assert_eq!(p.free_mb(), Some(0), "more used than the limit leaves none");
        let e = Element::parse(
            br#"<AdminOrgVdcStorageProfileRecord name="any" href="h" isEnabled="false" storageLimitMB="0" storageUsedMB="9"/>"#,
        )
        .unwrap();
        let p = StorageProfile::from_record(&Record::from_element(&e));
        assert!(!p.enabled && !p.default);
        assert_eq!(p.free_mb(), None, "limit 0 is no limit");
    }

    #[test]
    fn records_and_ambiguity() {
        let page = r#"<QueryResultRecords xmlns="http://www.vmware.com/vcloud/v1.5" total="2" page="1" pageSize="128" name="orgVdcNetwork">
  <Link rel="nextPage" href="https://vcd/api/query?type=orgVdcNetwork&amp;page=2"/>
  <OrgVdcNetworkRecord name="net" href="https://vcd/api/admin/network/aaaaaaaa-0000-0000-0000-000000000001" vdc="https://vcd/api/vdc/bbbbbbbb-0000-0000-0000-000000000001" linkType="1" isShared="false"/>
</QueryResultRecords>"#;
        let e = Element::parse(page.as_bytes()).unwrap();
        let recs: Vec<Record> = e
            .children
            .iter()
            .filter(|c| c.name != "Link")
            .map(Record::from_element)
            .collect();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].kind, "OrgVdcNetworkRecord");
        assert_eq!(recs[0].get("linkType"), Some("1"));
        let ent = recs[0].entity();
        assert_eq!(ent.uuid, "aaaaaaaa-0000-0000-0000-000000000001");
        assert_eq!(
            find_link(&e, "nextPage", None).unwrap().href,
            "https://vcd/api/query?type=orgVdcNetwork&page=2"
        );
        let a = EntityRef::new(
            "x",
            "https://vcd/api/admin/vdc/aaaaaaaa-0000-0000-0000-000000000001",
        );
        let b = EntityRef::new(
            "x",
            "https://vcd/api/vdc/aaaaaaaa-0000-0000-0000-000000000001",
        );
        let c = EntityRef::new(
            "x",
            "https://vcd/api/vdc/aaaaaaaa-0000-0000-0000-000000000002",
        );
        assert_eq!(
            one("vdc", "x", vec![a.clone(), b]).unwrap(),
            Some(a.clone())
        );
        let e = one("vdc", "x", vec![a, c]).unwrap_err().to_string();
        assert!(e.contains("more than one vdc named \"x\""), "{e}");
    }
}
