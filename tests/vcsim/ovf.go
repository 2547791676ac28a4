package main

// OvfManager.CreateDescriptor: a minimal OVF 1.0 descriptor for a VM (References,
// DiskSection, NetworkSection, OperatingSystemSection, CPUs, memory, SCSI/IDE controllers,
// disks and NICs), which vcsim's own CreateImportSpec accepts back.

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"log"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// OvfManagerX is vcsim's OvfManager plus CreateDescriptor (embedded by value).
type OvfManagerX struct {
	simulator.OvfManager
}

func installOvfManager(e *extension) {
	ext = e
	ref := types.ManagedObjectReference{Type: "OvfManager", Value: "OvfManager"}
	om, ok := simulator.Map.Get(ref).(*simulator.OvfManager)
	if !ok {
		log.Printf("no OvfManager in the model: CreateDescriptor unavailable")
		return
	}
	simulator.Map.Put(&OvfManagerX{*om})
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// CreateDescriptor writes the descriptor. cdp.ovfFiles[].deviceId matches the deviceUrl keys
// of an ExportVm lease ("/<vm moref>/<Controller><bus>:<unit>").
func (m *OvfManagerX) CreateDescriptor(ctx *simulator.Context, req *types.CreateDescriptor) soap.HasFault {
	body := new(methods.CreateDescriptorBody)
	vm, ok := ctx.Map.Get(req.Obj).(*simulator.VirtualMachine)
	if !ok {
		body.Fault_ = simulator.Fault("", &types.ManagedObjectNotFound{Obj: req.Obj})
		return body
	}
	var desc string
	ctx.WithLock(vm, func() { desc = describe(vm, req.Cdp) })
	body.Res = &types.CreateDescriptorResponse{Returnval: types.OvfCreateDescriptorResult{OvfDescriptor: desc}}
	return body
}

func describe(vm *simulator.VirtualMachine, cdp types.OvfCreateDescriptorParams) string {
	name := cdp.Name
	if name == "" {
		name = vm.Name
	}
	devices := object.VirtualDeviceList(vm.Config.Hardware.Device)
	files := map[string]types.OvfFile{}
	for _, f := range cdp.OvfFiles {
		files[f.DeviceId] = f
	}

	var refs, disks, items strings.Builder
	var nets []string
	seenNet := map[string]bool{}
	instance := 1
	item := func(rt int, elementName string, extra ...string) int {
		id := instance
		instance++
		fmt.Fprintf(&items, "      <Item>\n")
		fields := append([]string{}, extra...)
		fields = append(fields,
			fmt.Sprintf("<rasd:ElementName>%s</rasd:ElementName>", esc(elementName)),
			fmt.Sprintf("<rasd:InstanceID>%d</rasd:InstanceID>", id),
			fmt.Sprintf("<rasd:ResourceType>%d</rasd:ResourceType>", rt))
		// rasd elements go in alphabetical order (the CIM schema's sequence)
		sortRasd(fields)
		for _, f := range fields {
			fmt.Fprintf(&items, "        %s\n", f)
		}
		fmt.Fprintf(&items, "      </Item>\n")
		return id
	}
	hw := vm.Config.Hardware
	item(3, fmt.Sprintf("%d virtual CPU(s)", hw.NumCPU),
		"<rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>",
		"<rasd:Description>Number of Virtual CPUs</rasd:Description>",
		fmt.Sprintf("<rasd:VirtualQuantity>%d</rasd:VirtualQuantity>", hw.NumCPU))
	item(4, fmt.Sprintf("%dMB of memory", hw.MemoryMB),
		"<rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>",
		"<rasd:Description>Memory Size</rasd:Description>",
		fmt.Sprintf("<rasd:VirtualQuantity>%d</rasd:VirtualQuantity>", hw.MemoryMB))

	ctrlID := map[int32]int{} // device key -> InstanceID
	for _, d := range devices {
		var sub string
		switch d.(type) {
		case *types.VirtualLsiLogicController:
			sub = "lsilogic"
		case *types.VirtualBusLogicController:
			sub = "buslogic"
		case *types.ParaVirtualSCSIController:
			sub = "VirtualSCSI"
		case *types.VirtualLsiLogicSASController:
			sub = "lsilogicsas"
		case *types.VirtualIDEController:
			c := d.(*types.VirtualIDEController)
			ctrlID[c.Key] = item(5, fmt.Sprintf("IDE %d", c.BusNumber),
				fmt.Sprintf("<rasd:Address>%d</rasd:Address>", c.BusNumber),
				"<rasd:Description>IDE Controller</rasd:Description>")
			continue
		default:
			continue
		}
		c := d.(types.BaseVirtualSCSIController).GetVirtualSCSIController()
		ctrlID[c.Key] = item(6, fmt.Sprintf("SCSI controller %d", c.BusNumber),
			fmt.Sprintf("<rasd:Address>%d</rasd:Address>", c.BusNumber),
			"<rasd:Description>SCSI Controller</rasd:Description>",
			fmt.Sprintf("<rasd:ResourceSubType>%s</rasd:ResourceSubType>", sub))
	}

	ndisk := 0
	for _, d := range devices {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		parent, ok := ctrlID[disk.ControllerKey]
		if !ok {
			continue // a controller we do not describe (SATA, NVMe)
		}
		ndisk++
		key := fmt.Sprintf("/%s/%s", vm.Self.Value, controllerSlot(devices, disk))
		f, ok := files[key]
		if !ok {
			f = types.OvfFile{Path: fmt.Sprintf("%s-disk%d.vmdk", name, ndisk)}
		}
		fmt.Fprintf(&refs, "    <File ovf:href=\"%s\" ovf:id=\"file%d\"", esc(f.Path), ndisk)
		if f.Size > 0 {
			fmt.Fprintf(&refs, " ovf:size=\"%d\"", f.Size)
		}
		refs.WriteString("/>\n")
		fmt.Fprintf(&disks, "    <Disk ovf:capacity=\"%d\" ovf:capacityAllocationUnits=\"byte * 2^10\" ovf:diskId=\"vmdisk%d\" ovf:fileRef=\"file%d\" ovf:format=\"http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized\"", disk.CapacityInKB, ndisk, ndisk)
		if f.PopulatedSize > 0 {
			fmt.Fprintf(&disks, " ovf:populatedSize=\"%d\"", f.PopulatedSize)
		}
		disks.WriteString("/>\n")
		unit := int32(0)
		if disk.UnitNumber != nil {
			unit = *disk.UnitNumber
		}
		label := fmt.Sprintf("Hard disk %d", ndisk)
		if disk.DeviceInfo != nil && disk.DeviceInfo.GetDescription().Label != "" {
			label = disk.DeviceInfo.GetDescription().Label
		}
		item(17, label,
			fmt.Sprintf("<rasd:AddressOnParent>%d</rasd:AddressOnParent>", unit),
			fmt.Sprintf("<rasd:HostResource>ovf:/disk/vmdisk%d</rasd:HostResource>", ndisk),
			fmt.Sprintf("<rasd:Parent>%d</rasd:Parent>", parent))
	}

	nnic := 0
	for _, d := range devices {
		card, ok := d.(types.BaseVirtualEthernetCard)
		if !ok {
			continue
		}
		nnic++
		netName := nicNetwork(vm, card.GetVirtualEthernetCard())
		if netName == "" {
			netName = "VM Network"
		}
		if !seenNet[netName] {
			seenNet[netName] = true
			nets = append(nets, netName)
		}
		var sub string
		switch d.(type) {
		case *types.VirtualE1000:
			sub = "E1000"
		case *types.VirtualE1000e:
			sub = "E1000e"
		case *types.VirtualVmxnet3:
			sub = "VmxNet3"
		case *types.VirtualVmxnet2:
			sub = "VmxNet2"
		case *types.VirtualPCNet32:
			sub = "PCNet32"
		default:
			sub = "E1000"
		}
		item(10, fmt.Sprintf("Network adapter %d", nnic),
			fmt.Sprintf("<rasd:AddressOnParent>%d</rasd:AddressOnParent>", 6+nnic),
			"<rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>",
			fmt.Sprintf("<rasd:Connection>%s</rasd:Connection>", esc(netName)),
			fmt.Sprintf("<rasd:ResourceSubType>%s</rasd:ResourceSubType>", sub))
	}

	var netSection strings.Builder
	for _, n := range nets {
		fmt.Fprintf(&netSection, "    <Network ovf:name=\"%s\">\n      <Description>The %s network</Description>\n    </Network>\n", esc(n), esc(n))
	}
	version := vm.Config.Version
	if version == "" {
		version = "vmx-13"
	}
	annotation := cdp.Description
	if annotation == "" {
		annotation = vm.Config.Annotation
	}
	var ann string
	if annotation != "" {
		ann = fmt.Sprintf("    <AnnotationSection>\n      <Info>A human-readable annotation</Info>\n      <Annotation>%s</Annotation>\n    </AnnotationSection>\n", esc(annotation))
	}
	guest := vm.Config.GuestId
	if guest == "" {
		guest = "otherGuest"
	}
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<!--Generated by odt-vcsim (vcsim CreateDescriptor extension)-->
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
%s  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
%s  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
%s  </NetworkSection>
  <VirtualSystem ovf:id="%s">
    <Info>A virtual machine</Info>
    <Name>%s</Name>
%s    <OperatingSystemSection ovf:id="1" vmw:osType="%s">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>%s</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>%s</vssd:VirtualSystemType>
      </System>
%s    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`, refs.String(), disks.String(), netSection.String(), esc(name), esc(name), ann, esc(guest), esc(name), esc(version), items.String())
}

// sortRasd orders "<rasd:X>" elements by X.
func sortRasd(fields []string) {
	for i := 1; i < len(fields); i++ {
		for j := i; j > 0 && fields[j] < fields[j-1]; j-- {
			fields[j], fields[j-1] = fields[j-1], fields[j]
		}
	}
}

// nicNetwork names the network a NIC is backed by.
func nicNetwork(vm *simulator.VirtualMachine, card *types.VirtualEthernetCard) string {
	switch b := card.Backing.(type) {
	case *types.VirtualEthernetCardNetworkBackingInfo:
		return b.DeviceName
	case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
		for _, ref := range vm.Network {
			if pg, ok := simulator.Map.Get(ref).(*simulator.DistributedVirtualPortgroup); ok && pg.Key == b.Port.PortgroupKey {
				return pg.Name
			}
		}
	}
	return ""
}
