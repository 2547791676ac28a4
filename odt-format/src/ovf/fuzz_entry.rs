//! Entry points for fuzz targets (`cargo fuzz`, AFL): each parses arbitrary bytes and, when
//! parsing succeeds, asserts the invariants the rest of odt relies on. A panic here is a bug:
//! either a parser panicked on hostile input or it accepted something it promises to reject.

use std::collections::HashSet;
use std::io::Cursor;

use super::{read_index, validate_file_name, Envelope, Mf};

/// Parses `data` as an OVF descriptor; on success checks that hrefs are safe and unique, file
/// ids unique, every disk's `fileRef` resolves, every attached disk exists and there is at
/// least one virtual system.
pub fn fuzz_descriptor(data: &[u8]) {
    let Ok(env) = Envelope::parse(data) else {
        return;
    };
    let mut ids = HashSet::new();
    let mut hrefs = HashSet::new();
    for f in &env.files {
        assert!(
            validate_file_name(&f.href).is_ok(),
            "unsafe href {:?}",
            f.href
        );
        assert!(ids.insert(f.id.as_str()), "duplicate file id {:?}", f.id);
        assert!(hrefs.insert(f.href.as_str()), "duplicate href {:?}", f.href);
    }
    for d in &env.disks {
        if let Some(r) = &d.file_ref {
            assert!(env.file_by_id(r).is_some(), "dangling fileRef {r:?}");
        }
    }
    let systems = env.virtual_systems();
    assert!(
        !systems.is_empty(),
        "parsed envelope without a virtual system"
    );
    for vs in systems {
        for d in &vs.disk_refs {
            assert!(env.disk_by_id(d).is_some(), "dangling disk ref {d:?}");
        }
    }
    let _ = env.display_name();
}

/// Parses `data` as a `.mf` manifest; on success checks that writing it back and re-parsing
/// gives the same entries, and that the written form is stable.
pub fn fuzz_mf(data: &[u8]) {
    let Ok(mf) = Mf::parse(data) else {
        return;
    };
    for e in &mf.entries {
        assert_eq!(e.digest.len(), e.alg.digest_len());
        assert!(validate_file_name(&e.file).is_ok());
    }
    let bytes = mf.to_bytes();
    let again = Mf::parse(&bytes).expect("to_bytes output must parse");
    assert_eq!(again.entries, mf.entries);
    assert_eq!(again.to_bytes(), bytes);
}

/// Indexes `data` as an OVA; on success checks that every member lies inside the archive, the
/// first is the descriptor and names are safe and unique.
pub fn fuzz_ova(data: &[u8]) {
    let len = data.len() as u64;
    let Ok(index) = read_index(Cursor::new(data), len) else {
        return;
    };
    assert!(index
        .descriptor()
        .name
        .to_ascii_lowercase()
        .ends_with(".ovf"));
    let mut names = HashSet::new();
    for m in &index.members {
        assert!(m.offset.checked_add(m.size).is_some_and(|end| end <= len));
        assert!(validate_file_name(&m.name).is_ok());
        assert!(names.insert(m.name.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap stand-in for a fuzzer: mutate seeds deterministically and make sure nothing
    /// panics and the invariants hold.
    fn mutations(seed: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..400).map(move |_| {
            let mut v = seed.to_vec();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if v.is_empty() {
                    break;
                }
                let at = (state as usize) % v.len();
                match state >> 60 {
                    0..=5 => v[at] = (state >> 32) as u8,
                    6..=9 => {
                        v.remove(at);
                    }
                    10..=12 => v.insert(at, b"<>/=\"'&;\n"[(state >> 40) as usize % 9]),
                    _ => v.truncate(at),
                }
            }
            v
        })
    }

    #[test]
    fn descriptor_mutations_hold_invariants() {
        let seed = format!(
            r#"<Envelope xmlns="{ns}" xmlns:ovf="{ns}" xmlns:rasd="{rasd}">
<References><File ovf:id="f" ovf:href="d.vmdk" ovf:size="3"/></References>
<DiskSection><Disk ovf:diskId="d" ovf:fileRef="f" ovf:capacity="1" ovf:capacityAllocationUnits="byte * 2^30"/></DiskSection>
<NetworkSection><Network ovf:name="n"><Description>x</Description></Network></NetworkSection>
<VirtualSystem ovf:id="v"><Name>vm</Name><VirtualHardwareSection>
<Item><rasd:HostResource>ovf:/disk/d</rasd:HostResource><rasd:ResourceType>17</rasd:ResourceType></Item>
<Item><rasd:Connection>n</rasd:Connection><rasd:ResourceType>10</rasd:ResourceType></Item>
</VirtualHardwareSection></VirtualSystem></Envelope>"#,
            ns = super::super::model::OVF1_NAMESPACE,
            rasd = super::super::model::RASD_NAMESPACE,
        );
        fuzz_descriptor(seed.as_bytes());
        assert!(Envelope::parse(seed.as_bytes()).is_ok());
        for m in mutations(seed.as_bytes()) {
            fuzz_descriptor(&m);
        }
    }

    #[test]
    fn mf_mutations_hold_invariants() {
        let seed = format!(
            "SHA1(a.ovf)= {}\r\nsha256 (b c.vmdk) = {}\n\nSHA512(x)={}\n",
            "0a".repeat(20),
            "FF".repeat(32),
            "12".repeat(64)
        );
        fuzz_mf(seed.as_bytes());
        assert_eq!(Mf::parse(seed.as_bytes()).unwrap().entries.len(), 3);
        for m in mutations(seed.as_bytes()) {
            fuzz_mf(&m);
        }
    }

    #[test]
    fn ova_mutations_hold_invariants() {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in [("vm.ovf", &b"<Envelope/>"[..]), ("d.vmdk", &[5; 700][..])] {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, data).unwrap();
        }
        let seed = b.into_inner().unwrap();
        fuzz_ova(&seed);
        assert!(read_index(Cursor::new(&seed), seed.len() as u64).is_ok());
        for m in mutations(&seed) {
            fuzz_ova(&m);
        }
    }
}
