//! Deploying an OVF through vCenter: CreateImportSpec and ImportVApp. The lease that follows
//! is [`nfc`](super::nfc)'s; the tasks that change or remove a VM afterwards are
//! [`task`](super::task)'s.
//!
//! The sequence (reference §3), and who owns each step:
//!
//! 1. [`create_import_spec`]: vCenter parses the descriptor against the [`Placement`] and
//!    returns the spec to send back, the files it wants, and its warnings and errors.
//! 2. [`import_vapp`] sends the spec back *unchanged* and returns a [`Lease`]; the VM exists
//!    from this moment.
//! 3. [`LeaseGuard::ready`](super::nfc::LeaseGuard::ready) waits for the lease (the new VM's
//!    moref and one upload URL per file) and keeps it alive on its own thread, so a slow disk
//!    never lets it time out (about 5 minutes on a real vCenter).
//! 4. [`LeaseGuard::upload`](super::nfc::LeaseGuard::upload) streams each file (disks must
//!    be streamOptimized VMDKs).
//! 5. [`LeaseGuard::complete`](super::nfc::LeaseGuard::complete), or on any failure (or a
//!    drop) the guard aborts the lease, after which vCenter deletes the half-made VM, and
//!    destroys it itself (vcsim does not delete it).

use super::client::Client;
use super::error::{Result, VimError};
use super::inventory::Placement;
use super::nfc::Lease;
use super::soap::LocalizedFault;
use super::types::{FileItem, MoRef};
use super::xml::{Element, XmlWriter, VIM25_NS};

/// What to ask CreateImportSpec for, beyond the placement.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportSpecParams {
    /// The name of the new VM (or vApp).
    pub entity_name: String,
    /// `(OVF network name, target network)`: every name must be a `Network` of the
    /// descriptor's NetworkSection (the NICs' `Connection`), not a target port group.
    pub network_map: Vec<(String, MoRef)>,
    /// `diskProvisioning` (`thin`, `thick`, `eagerZeroedThick`, …); `None` lets the server
    /// choose.
    pub disk_provisioning: Option<String>,
    /// `propertyMapping`: values for the descriptor's ProductSection properties.
    pub property_map: Vec<(String, String)>,
    /// The host to validate against and place on; `None` uses the placement's host, if any.
    pub host: Option<MoRef>,
}

impl ImportSpecParams {
    /// Parameters for a VM named `entity_name`, everything else default.
    pub fn new(entity_name: impl Into<String>) -> Self {
        ImportSpecParams {
            entity_name: entity_name.into(),
            ..Default::default()
        }
    }
}

/// The result of CreateImportSpec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSpec {
    /// The `importSpec` to hand to [`import_vapp`] unchanged (its xsi:type is
    /// `VirtualMachineImportSpec` or `VirtualAppImportSpec`).
    pub spec: Element,
    /// The files to upload.
    pub file_items: Vec<FileItem>,
    /// Warnings (an unmapped network, a setting the server ignored): show them.
    pub warnings: Vec<LocalizedFault>,
    /// Errors: when there is any, the spec must not be imported ([`import_vapp`] refuses).
    pub errors: Vec<LocalizedFault>,
}

/// CreateImportSpec for `descriptor` (the `.ovf` text) at `placement`, naming the VM
/// `entity_name` and mapping OVF networks to target networks.
pub fn create_import_spec(
    client: &Client,
    placement: &Placement,
    descriptor: &str,
    entity_name: &str,
    network_map: &[(String, MoRef)],
) -> Result<ImportSpec> {
    let mut p = ImportSpecParams::new(entity_name);
    p.network_map = network_map.to_vec();
    create_import_spec_with(client, placement, descriptor, &p)
}

/// CreateImportSpec with every parameter odt uses.
pub fn create_import_spec_with(
    client: &Client,
    placement: &Placement,
    descriptor: &str,
    params: &ImportSpecParams,
) -> Result<ImportSpec> {
    let om = client.service_content().ovf_manager()?;
    let host = params
        .host
        .clone()
        .or_else(|| placement.host.as_ref().map(|h| h.moref.clone()));
    let mut w = XmlWriter::new();
    w.leaf("ovfDescriptor", descriptor)
        .moref("resourcePool", &placement.resource_pool)
        .moref("datastore", &placement.datastore.moref)
        .open("cisp")
        // Required, may be empty; govc sends "US".
        .leaf("locale", "US")
        .leaf("deploymentOption", "")
        .leaf("entityName", &params.entity_name);
    if let Some(h) = &host {
        w.moref("hostSystem", h);
    }
    for (name, net) in &params.network_map {
        w.open("networkMapping")
            .leaf("name", name)
            .moref("network", net)
            .close("networkMapping");
    }
    for (k, v) in &params.property_map {
        w.open("propertyMapping")
            .leaf("key", k)
            .leaf("value", v)
            .close("propertyMapping");
    }
    if let Some(d) = &params.disk_provisioning {
        w.leaf("diskProvisioning", d);
    }
    w.close("cisp");
    let resp = client.call("CreateImportSpec", &om, w.as_str())?;
    parse_import_spec(resp)
}

/// Reads a `CreateImportSpecResponse`.
pub fn parse_import_spec(resp: Element) -> Result<ImportSpec> {
    let what = "CreateImportSpec reply";
    let rv = resp
        .children
        .into_iter()
        .find(|c| c.name == "returnval")
        .ok_or_else(|| VimError::xml(what, "no returnval"))?;
    let mut spec = None;
    let mut file_items = Vec::new();
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for c in rv.children {
        match c.name.as_str() {
            "importSpec" => spec = Some(c),
            "fileItem" => file_items.push(FileItem {
                device_id: c.text_of("deviceId").unwrap_or_default().to_string(),
                path: c.text_of("path").unwrap_or_default().to_string(),
                size: c.parse_of("size"),
                create: c.bool_of("create").unwrap_or(false),
                cim_type: c.parse_of("cimType"),
            }),
            "warning" => warnings.push(LocalizedFault::from_element(&c)),
            "error" => errors.push(LocalizedFault::from_element(&c)),
            _ => {}
        }
    }
    let spec = match spec {
        Some(s) => s,
        // No spec is only acceptable when the server said why.
        None if !errors.is_empty() => Element::new(VIM25_NS, "importSpec"),
        None => return Err(VimError::xml(what, "no importSpec and no error")),
    };
    if spec.xsi_type().is_none() && errors.is_empty() {
        return Err(VimError::xml(what, "the importSpec has no xsi:type"));
    }
    Ok(ImportSpec {
        spec,
        file_items,
        warnings,
        errors,
    })
}

/// ImportVApp: creates the VM from `spec` in the placement's pool and VM folder, and returns
/// the lease to upload its files through. A spec that carries errors is refused here.
pub fn import_vapp(client: &Client, placement: &Placement, spec: &ImportSpec) -> Result<Lease> {
    if let Some(first) = spec.errors.first() {
        return Err(VimError::invalid(
            "import spec",
            format!(
                "CreateImportSpec reported {} error(s), the first: {first}",
                spec.errors.len()
            ),
        ));
    }
    let mut w = XmlWriter::new();
    w.element("spec", &spec.spec);
    // A VirtualApp pool places the VM itself; naming a folder then is InvalidArgument.
    if placement.resource_pool.kind != "VirtualApp" {
        w.moref("folder", &placement.vm_folder);
    }
    if let Some(h) = &placement.host {
        w.moref("host", &h.moref);
    }
    let resp = client.call("ImportVApp", &placement.resource_pool, w.as_str())?;
    let lease = resp
        .child("returnval")
        .ok_or_else(|| VimError::xml("ImportVApp reply", "no returnval"))
        .and_then(MoRef::from_element)?;
    Ok(Lease::from_moref(client, lease))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::soap::parse_response;

    /// CreateImportSpec's reply as vcsim 0.24.2 writes it (shortened device list): the
    /// importSpec typed with vcsim's `XMLSchema-instance` prefix, whose declaration lives on
    /// an ancestor, nested typed devices and backings, a fileItem.
    const CIS_REPLY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><CreateImportSpecResponse xmlns="urn:vim25"><returnval xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance"><importSpec XMLSchema-instance:type="VirtualMachineImportSpec"><configSpec><name>single</name><version>vmx-13</version><guestId>otherGuest64</guestId><files><vmPathName>[LocalDS_0]</vmPathName></files><numCPUs>1</numCPUs><memoryMB>512</memoryMB><deviceChange><operation>add</operation><device XMLSchema-instance:type="VirtualLsiLogicController"><key>1</key><busNumber>0</busNumber><sharedBus>noSharing</sharedBus></device></deviceChange><deviceChange><operation>add</operation><fileOperation>create</fileOperation><device XMLSchema-instance:type="VirtualDisk"><key>2</key><backing XMLSchema-instance:type="VirtualDiskFlatVer2BackingInfo"><fileName></fileName><diskMode>persistent</diskMode><thinProvisioned>true</thinProvisioned></backing><controllerKey>1</controllerKey><unitNumber>0</unitNumber><capacityInKB>16384</capacityInKB></device></deviceChange><deviceChange><operation>add</operation><device XMLSchema-instance:type="VirtualVmxnet3"><key>3</key><backing XMLSchema-instance:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>VM Network</deviceName><network type="Network">network-7</network></backing><addressType>generated</addressType></device></deviceChange><extraConfig><key>k</key><value XMLSchema-instance:type="xsd:string">v</value></extraConfig></configSpec><resPoolEntity type="ResourcePool">resgroup-1</resPoolEntity></importSpec><fileItem><deviceId>/single/disk:0</deviceId><path>single-disk1.vmdk</path><size>123456</size><cimType>17</cimType><create>false</create></fileItem><warning><fault XMLSchema-instance:type="OvfAttribute"><lineNumber>9</lineNumber></fault><localizedMessage>Line 9: Unsupported attribute 'x'.</localizedMessage></warning></returnval></CreateImportSpecResponse></soapenv:Body></soapenv:Envelope>"#;

    #[test]
    fn import_spec_parses_and_round_trips() {
        let resp = parse_response("CreateImportSpec", CIS_REPLY.as_bytes()).unwrap();
        let spec = parse_import_spec(resp).unwrap();
        assert_eq!(spec.spec.xsi_type(), Some("VirtualMachineImportSpec"));
        assert_eq!(
            spec.file_items,
            vec![FileItem {
                device_id: "/single/disk:0".into(),
                path: "single-disk1.vmdk".into(),
                size: Some(123456),
                create: false,
                cim_type: Some(17),
            }]
        );
        assert_eq!(spec.warnings.len(), 1);
        assert_eq!(spec.warnings[0].fault_type, "OvfAttribute");
        assert!(spec.errors.is_empty());

        let mut w = XmlWriter::new();
        w.element("spec", &spec.spec);
        let out = w.finish();
        assert!(
            out.starts_with("<spec xsi:type=\"VirtualMachineImportSpec\"><configSpec>"),
            "{out}"
        );
        assert!(out.contains("<device xsi:type=\"VirtualDisk\"><key>2</key><backing xsi:type=\"VirtualDiskFlatVer2BackingInfo\"><fileName></fileName>"), "{out}");
        assert!(
            out.contains("<unitNumber>0</unitNumber>"),
            "zero values are kept: {out}"
        );
        assert!(
            out.contains("<value xsi:type=\"xsd:string\">v</value>"),
            "{out}"
        );
        assert!(
            out.contains("<resPoolEntity type=\"ResourcePool\">resgroup-1</resPoolEntity></spec>")
        );
        assert!(
            !out.contains("XMLSchema-instance"),
            "no stray prefix: {out}"
        );
        // Inside a real envelope it is well-formed and resolves to the same types.
        let env = crate::vsphere::soap::envelope(
            "ImportVApp",
            &MoRef::new("ResourcePool", "resgroup-1"),
            &out,
        );
        let root = Element::parse(env.as_bytes()).unwrap();
        let sent = root.children[0].children[0].child("spec").unwrap();
        assert_eq!(sent.xsi_type(), Some("VirtualMachineImportSpec"));
        assert_eq!(
            sent.path(&["configSpec", "extraConfig", "value"])
                .unwrap()
                .xsi_type
                .as_ref()
                .unwrap()
                .ns
                .as_deref(),
            Some(crate::vsphere::xml::XSD_NS)
        );
    }

    #[test]
    fn import_spec_errors() {
        let xml = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><CreateImportSpecResponse xmlns="urn:vim25"><returnval><error><fault xsi:type="OvfUnsupportedType"><lineNumber>40</lineNumber><name>Item</name></fault><localizedMessage>unsupported ResourceType 99</localizedMessage></error></returnval></CreateImportSpecResponse></soapenv:Body></soapenv:Envelope>"#;
        let spec =
            parse_import_spec(parse_response("CreateImportSpec", xml.as_bytes()).unwrap()).unwrap();
        assert_eq!(spec.errors.len(), 1);
        assert_eq!(
            spec.errors[0].to_string(),
            "OvfUnsupportedType: unsupported ResourceType 99"
        );
        let xml = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><CreateImportSpecResponse xmlns="urn:vim25"><returnval></returnval></CreateImportSpecResponse></soapenv:Body></soapenv:Envelope>"#;
        assert!(
            parse_import_spec(parse_response("CreateImportSpec", xml.as_bytes()).unwrap()).is_err()
        );
    }
}
