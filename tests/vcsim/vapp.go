package main

// vApps: OVF descriptors whose content is a VirtualSystemCollection.
//
// vcsim 0.24.2 cannot import them: OvfManager.CreateImportSpec dereferences the envelope's
// (nil) VirtualSystem, and ResourcePool.ImportVApp only takes a VirtualMachineImportSpec.
// Like vCenter, this extension
//
//   - answers CreateImportSpec for a collection with a VirtualAppImportSpec named
//     cisp.entityName: one child VirtualMachineImportSpec per VirtualSystem (a nested
//     collection gives a nested VirtualAppImportSpec), each made by vcsim's own single-VM
//     code from a per-system envelope (the descriptor with the collection replaced by that
//     VirtualSystem, so References, DiskSection and NetworkSection are shared), with the
//     system's <Name> (else its ovf:id) as the VM name. fileItems of all children are merged;
//     their deviceIds are "/<child VM name>/<devtype>:<n>". A child's entityConfig carries the
//     collection's StartupSection entry for it (tag = VM name).
//   - answers ImportVApp with a VirtualAppImportSpec (on a ResourcePool, or a VirtualApp for a
//     nested vApp) by creating the VirtualApp (vcsim's CreateVApp) and each child VM inside it
//     (vcsim's own import, one per child, into the vApp), and returns ONE lease whose
//     info.entity is the VirtualApp and whose deviceUrls are those of every child VM
//     (importKey "/<child VM name>/<devtype>:<n>", matching the fileItems). Each child VM's
//     URL points at that child's internal lease (https://*/nfc/<child lease>/disk-0.vmdk),
//     which vcsim's NFC handler validates; Complete/Abort on the vApp lease end them all.
//   - makes Destroy_Task on a VirtualApp destroy its VMs (and nested vApps) and the vApp;
//     vcsim's would move the VMs to the parent pool and keep them.
//
// The vApp is also listed in its folder's childEntity (DC0/vm/<vapp> resolves, as in
// vCenter; vcsim's CreateVApp alone leaves it out), and each child VM gets parentVApp. The
// child VMs themselves stay in the datacenter's VM folder as vcsim places every VM, so both
// DC0/vm/<vapp>/<vm> and DC0/vm/<vm> find them.
//
// Dispatch: vcsim calls methods on the object registered under `_this`. Wrapping resource
// pools or VirtualApps breaks vcsim's own type assertions (createVM appends the new VM to
// pool.(*VirtualApp)), so the /sdk hook (capture.go) instead rewrites `_this` of these two
// calls to a helper object (type OdtVApp, same value), which gets vcsim's *Context and works
// on the real objects with vcsim's exported methods, locking each as vcsim's dispatcher would.

import (
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/ovf"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// helperType is the moref type the /sdk hook redirects vApp calls to.
const helperType = "OdtVApp"

// ---------------------------------------------------------------- descriptor parsing

// ovfContent is a VirtualSystem or VirtualSystemCollection of a descriptor, with its byte
// span in the descriptor text.
type ovfContent struct {
	collection bool
	id, name   string
	start, end int64
	depth      int
	children   []*ovfContent
	startup    map[string]startupItem // collections: StartupSection items by ovf:id
	annotation string
	products   []ovfProduct
}

type startupItem struct {
	ID              string `xml:"id,attr"`
	Order           string `xml:"order,attr"`
	StartDelay      string `xml:"startDelay,attr"`
	WaitingForGuest string `xml:"waitingForGuest,attr"`
	StartAction     string `xml:"startAction,attr"`
	StopDelay       string `xml:"stopDelay,attr"`
	StopAction      string `xml:"stopAction,attr"`
}

type ovfProduct struct {
	Class       string `xml:"class,attr"`
	Instance    string `xml:"instance,attr"`
	Product     string `xml:"Product"`
	Vendor      string `xml:"Vendor"`
	Version     string `xml:"Version"`
	FullVersion string `xml:"FullVersion"`
	ProductURL  string `xml:"ProductUrl"`
	VendorURL   string `xml:"VendorUrl"`
	AppURL      string `xml:"AppUrl"`
}

// vmName is the name a system gets: its <Name>, else its ovf:id.
func (c *ovfContent) vmName() string {
	if n := strings.TrimSpace(c.name); n != "" {
		return n
	}
	return c.id
}

// parseContent finds the envelope's top-level content element and, for collections, their
// members (recursively). It returns nil (no error) when the envelope has neither a
// VirtualSystem nor a VirtualSystemCollection, which CreateImportSpec answers with a fault.
func parseContent(desc string) (*ovfContent, error) {
	p := &contentParser{d: xml.NewDecoder(strings.NewReader(desc))}
	for {
		off := p.d.InputOffset()
		tok, err := p.d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := p.start(t, off); err != nil {
				return nil, err
			}
		case xml.EndElement:
			p.end()
		}
	}
	return p.root, nil
}

// contentParser walks a descriptor's tokens, keeping the content elements it is inside.
type contentParser struct {
	d     *xml.Decoder
	root  *ovfContent   // the envelope's content element, once seen
	stack []*ovfContent // the content elements open at this point, outermost first
	depth int           // element depth (the Envelope is 1)
}

// start handles an element starting at byte off: a content element where one may be (the
// envelope's first child of depth 2, or a direct member of an open collection), or a
// section of the innermost open content element. Anything else is skipped over.
func (p *contentParser) start(t xml.StartElement, off int64) error {
	p.depth++
	local := t.Name.Local
	var top *ovfContent
	if len(p.stack) > 0 {
		top = p.stack[len(p.stack)-1]
	}
	isContent := local == "VirtualSystem" || local == "VirtualSystemCollection"
	if isContent && ((top == nil && p.depth == 2 && p.root == nil) || (top != nil && top.collection && p.depth == top.depth+1)) {
		c := &ovfContent{collection: local == "VirtualSystemCollection", id: attr(t, "id"), start: off, depth: p.depth}
		if top == nil {
			p.root = c
		} else {
			top.children = append(top.children, c)
		}
		p.stack = append(p.stack, c)
		return nil
	}
	if top == nil || p.depth != top.depth+1 {
		return nil
	}
	return p.section(top, t)
}

// section reads a section of c that the import spec needs (Name, StartupSection,
// AnnotationSection, ProductSection) whole, so its end is consumed here too.
func (p *contentParser) section(c *ovfContent, t xml.StartElement) error {
	switch t.Name.Local {
	case "Name":
		var name string
		if err := p.d.DecodeElement(&name, &t); err != nil {
			return err
		}
		c.name = name
	case "StartupSection":
		var sec struct {
			Items []startupItem `xml:"Item"`
		}
		if err := p.d.DecodeElement(&sec, &t); err != nil {
			return err
		}
		if c.startup == nil {
			c.startup = map[string]startupItem{}
		}
		for _, it := range sec.Items {
			c.startup[it.ID] = it
		}
	case "AnnotationSection":
		var sec struct {
			Annotation string `xml:"Annotation"`
		}
		if err := p.d.DecodeElement(&sec, &t); err != nil {
			return err
		}
		c.annotation = sec.Annotation
	case "ProductSection":
		var prod ovfProduct
		if err := p.d.DecodeElement(&prod, &t); err != nil {
			return err
		}
		c.products = append(c.products, prod)
	default:
		return nil
	}
	p.depth--
	return nil
}

// end closes the innermost content element when it is the one ending, noting where it ends.
func (p *contentParser) end() {
	if len(p.stack) > 0 && p.stack[len(p.stack)-1].depth == p.depth {
		p.stack[len(p.stack)-1].end = p.d.InputOffset()
		p.stack = p.stack[:len(p.stack)-1]
	}
	p.depth--
}

func attr(t xml.StartElement, local string) string {
	for _, a := range t.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// systems lists the VirtualSystems under c, depth first.
func (c *ovfContent) systems() []*ovfContent {
	if !c.collection {
		return []*ovfContent{c}
	}
	var out []*ovfContent
	for _, ch := range c.children {
		out = append(out, ch.systems()...)
	}
	return out
}

// ---------------------------------------------------------------- CreateImportSpec

// CreateImportSpec handles VirtualSystemCollection descriptors and leaves everything else to
// vcsim (which would dereference nil for a collection).
func (m *OvfManagerX) CreateImportSpec(ctx *simulator.Context, req *types.CreateImportSpec) soap.HasFault {
	root, err := parseContent(req.OvfDescriptor)
	if err != nil {
		body := new(methods.CreateImportSpecBody)
		body.Fault_ = simulator.Fault(err.Error(), &types.InvalidArgument{InvalidProperty: "ovfDescriptor"})
		return body
	}
	if root == nil {
		body := new(methods.CreateImportSpecBody)
		body.Fault_ = simulator.Fault("the descriptor has no VirtualSystem or VirtualSystemCollection",
			&types.InvalidArgument{InvalidProperty: "ovfDescriptor"})
		return body
	}
	if !root.collection {
		return m.OvfManager.CreateImportSpec(ctx, req)
	}
	return m.createVAppImportSpec(ctx, req, root)
}

// childResult is vcsim's import spec for one VirtualSystem.
type childResult struct {
	spec     *types.VirtualMachineImportSpec
	result   types.OvfCreateImportSpecResult
	declared map[string]bool // property keys its ProductSections declare
}

func (m *OvfManagerX) createVAppImportSpec(ctx *simulator.Context, req *types.CreateImportSpec, root *ovfContent) soap.HasFault {
	body := new(methods.CreateImportSpecBody)
	desc := req.OvfDescriptor
	prefix, suffix := desc[:root.start], desc[root.end:]

	// Every VM of the vApp (nested collections included) needs a distinct name: they are
	// the deviceIds' first element and the VMs' names.
	seen := map[string]bool{}
	for _, s := range root.systems() {
		n := s.vmName()
		if n == "" {
			body.Fault_ = simulator.Fault("a VirtualSystem has neither ovf:id nor Name", &types.InvalidArgument{InvalidProperty: "ovfDescriptor"})
			return body
		}
		if seen[n] {
			body.Fault_ = simulator.Fault(fmt.Sprintf("two VirtualSystems are named %q", n), &types.InvalidArgument{InvalidProperty: "ovfDescriptor"})
			return body
		}
		seen[n] = true
	}

	// First pass: vcsim's spec for every system, without property mappings.
	results := map[*ovfContent]*childResult{}
	for _, s := range root.systems() {
		sub := prefix + desc[s.start:s.end] + suffix
		r, fault := m.systemSpec(ctx, req, sub, s.vmName(), nil)
		if fault != nil {
			body.Fault_ = fault
			return body
		}
		r.declared = declaredProperties(sub)
		results[s] = r
	}
	// Property mappings go to the systems that declare them; a key no system declares goes
	// to all of them (vcsim's behaviour for a single VM).
	if len(req.Cisp.PropertyMapping) > 0 {
		for s, r := range results {
			var mine []types.KeyValue
			for _, kv := range req.Cisp.PropertyMapping {
				declaredSomewhere := false
				for _, o := range results {
					declaredSomewhere = declaredSomewhere || o.declared[kv.Key]
				}
				if r.declared[kv.Key] || !declaredSomewhere {
					mine = append(mine, kv)
				}
			}
			sub := prefix + desc[s.start:s.end] + suffix
			again, fault := m.systemSpec(ctx, req, sub, s.vmName(), mine)
			if fault != nil {
				body.Fault_ = fault
				return body
			}
			again.declared = r.declared
			results[s] = again
		}
	}

	name := req.Cisp.EntityName
	if name == "" {
		name = root.vmName()
	}
	res := types.OvfCreateImportSpecResult{}
	spec := buildVAppSpec(root, name, results, &res)
	res.ImportSpec = spec
	body.Res = &types.CreateImportSpecResponse{Returnval: res}
	return body
}

// buildVAppSpec assembles the VirtualAppImportSpec of collection c, merging the children's
// fileItems, warnings and errors into res.
func buildVAppSpec(c *ovfContent, name string, results map[*ovfContent]*childResult, res *types.OvfCreateImportSpecResult) *types.VirtualAppImportSpec {
	spec := &types.VirtualAppImportSpec{
		Name:             name,
		ResourcePoolSpec: types.DefaultResourceConfigSpec(),
		VAppConfigSpec:   types.VAppConfigSpec{Annotation: c.annotation},
	}
	for i, p := range c.products {
		spec.VAppConfigSpec.Product = append(spec.VAppConfigSpec.Product, types.VAppProductSpec{
			ArrayUpdateSpec: types.ArrayUpdateSpec{Operation: types.ArrayUpdateOperationAdd},
			Info: &types.VAppProductInfo{
				Key: int32(i), ClassId: p.Class, InstanceId: p.Instance, Name: p.Product,
				Vendor: p.Vendor, Version: p.Version, FullVersion: p.FullVersion,
				VendorUrl: p.VendorURL, ProductUrl: p.ProductURL, AppUrl: p.AppURL,
			},
		})
	}
	for _, ch := range c.children {
		var child types.BaseImportSpec
		if ch.collection {
			child = buildVAppSpec(ch, ch.vmName(), results, res)
		} else {
			r := results[ch]
			child = r.spec
			res.FileItem = append(res.FileItem, r.result.FileItem...)
			res.Warning = append(res.Warning, r.result.Warning...)
			res.Error = append(res.Error, r.result.Error...)
		}
		if it, ok := c.startup[ch.id]; ok {
			child.GetImportSpec().EntityConfig = entityConfig(ch.vmName(), it)
		} else {
			child.GetImportSpec().EntityConfig = &types.VAppEntityConfigInfo{Tag: ch.vmName()}
		}
		spec.Child = append(spec.Child, child)
	}
	return spec
}

func entityConfig(tag string, it startupItem) *types.VAppEntityConfigInfo {
	num := func(s string) int32 {
		n, _ := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
		return int32(n)
	}
	ec := &types.VAppEntityConfigInfo{
		Tag:         tag,
		StartOrder:  num(it.Order),
		StartDelay:  num(it.StartDelay),
		StartAction: it.StartAction,
		StopDelay:   num(it.StopDelay),
		StopAction:  it.StopAction,
	}
	if it.WaitingForGuest != "" {
		ec.WaitingForGuest = types.NewBool(it.WaitingForGuest == "true" || it.WaitingForGuest == "1")
	}
	return ec
}

// systemSpec runs vcsim's CreateImportSpec on a single-system descriptor as VM `name`.
// vcsim panics on some malformed descriptors: that becomes an InvalidArgument fault.
func (m *OvfManagerX) systemSpec(ctx *simulator.Context, req *types.CreateImportSpec, desc, name string, props []types.KeyValue) (r *childResult, fault *soap.Fault) {
	sub := *req
	sub.OvfDescriptor = desc
	sub.Cisp.EntityName = name
	sub.Cisp.PropertyMapping = props
	defer func() {
		if p := recover(); p != nil {
			r, fault = nil, simulator.Fault(fmt.Sprintf("VirtualSystem %q: cannot parse it: %v", name, p),
				&types.InvalidArgument{InvalidProperty: "ovfDescriptor"})
		}
	}()
	out, ok := m.OvfManager.CreateImportSpec(ctx, &sub).(*methods.CreateImportSpecBody)
	if !ok {
		return nil, simulator.Fault("unexpected CreateImportSpec result", &types.InvalidArgument{InvalidProperty: "ovfDescriptor"})
	}
	if out.Fault_ != nil {
		return nil, out.Fault_
	}
	spec, ok := out.Res.Returnval.ImportSpec.(*types.VirtualMachineImportSpec)
	if !ok {
		return nil, simulator.Fault(fmt.Sprintf("VirtualSystem %q: no VirtualMachineImportSpec", name), &types.InvalidArgument{InvalidProperty: "ovfDescriptor"})
	}
	spec.ResPoolEntity = nil // the vApp is the pool
	return &childResult{spec: spec, result: out.Res.Returnval}, nil
}

// declaredProperties lists the property keys the ProductSections of a single-system
// descriptor declare, plain and in the "class.key.instance" form.
func declaredProperties(desc string) map[string]bool {
	keys := map[string]bool{}
	env, err := ovf.Unmarshal(strings.NewReader(desc))
	if err != nil || env.VirtualSystem == nil {
		return keys
	}
	for _, p := range env.VirtualSystem.Product {
		for _, prop := range p.Property {
			keys[prop.Key] = true
			full := prop.Key
			if p.Class != nil && *p.Class != "" {
				full = *p.Class + "." + full
			}
			if p.Instance != nil && *p.Instance != "" {
				full = full + "." + *p.Instance
			}
			keys[full] = true
		}
	}
	return keys
}

// ---------------------------------------------------------------- the /sdk redirection

// VAppHelper receives ImportVApp (with a VirtualAppImportSpec) and Destroy_Task calls meant
// for Target (a ResourcePool or VirtualApp), redirected by the /sdk hook. It embeds an mo
// type so that the PropertyCollector could describe it, should anything ask.
type VAppHelper struct {
	mo.ExtensibleManagedObject
	Target types.ManagedObjectReference
}

// helperFor registers (once) and returns the helper moref for target.
func helperFor(target types.ManagedObjectReference) types.ManagedObjectReference {
	ref := types.ManagedObjectReference{Type: helperType, Value: target.Value}
	if h, ok := simulator.Map.Get(ref).(*VAppHelper); ok && h.Target == target {
		return ref
	}
	h := &VAppHelper{Target: target}
	h.Self = ref
	simulator.Map.Put(h)
	return ref
}

var thisTypeRe = regexp.MustCompile(`(<(?:[\w.-]+:)?_this\b[^>]*?\stype=)(["'])(ResourcePool|VirtualApp)(["'])`)

// redirectThis rewrites the type of the request's `_this` (target) to the helper's; nil when
// it cannot find it.
func redirectThis(body []byte, target types.ManagedObjectReference) []byte {
	loc := thisTypeRe.FindSubmatchIndex(body)
	if loc == nil || string(body[loc[6]:loc[7]]) != target.Type {
		return nil
	}
	helperFor(target)
	out := make([]byte, 0, len(body)+8)
	out = append(out, body[:loc[6]]...)
	out = append(out, helperType...)
	out = append(out, body[loc[7]:]...)
	return out
}

// invoke runs f with obj locked and ctx.Caller set to it, as vcsim's dispatcher calls a
// method on obj (internal calls then know obj is already locked).
func invoke(ctx *simulator.Context, obj mo.Reference, f func()) {
	ref := obj.Reference()
	saved := ctx.Caller
	simulator.Map.WithLock(obj, func() {
		ctx.Caller = &ref
		defer func() { ctx.Caller = saved }()
		f()
	})
}

// ---------------------------------------------------------------- ImportVApp

// vappChild is one VM created by a vApp import.
type vappChild struct {
	vm    types.ManagedObjectReference
	name  string
	vapp  string                       // name of the vApp directly holding it
	lease types.ManagedObjectReference // the child's own (internal) lease
	urls  []types.HttpNfcLeaseDeviceUrl
	files map[string]string // NFC file name -> datastore file
	capKB int64
}

// vappImport accumulates what an ImportVApp created, for the lease and for rollback.
type vappImport struct {
	ctx      *simulator.Context
	host     *types.ManagedObjectReference
	children []*vappChild
	vapps    []types.ManagedObjectReference // created, outermost first
}

// ImportVApp imports a VirtualAppImportSpec into h.Target.
func (h *VAppHelper) ImportVApp(ctx *simulator.Context, req *types.ImportVApp) soap.HasFault {
	body := new(methods.ImportVAppBody)
	spec, ok := req.Spec.(*types.VirtualAppImportSpec)
	if !ok {
		body.Fault_ = simulator.Fault(fmt.Sprintf("%T: type not supported here", req.Spec), &types.InvalidArgument{InvalidProperty: "spec"})
		return body
	}
	if req.Folder != nil && h.Target.Type == "VirtualApp" {
		body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "pool"})
		return body
	}
	imp := &vappImport{ctx: ctx, host: req.Host}
	vappRef, fault := imp.create(h.Target, req.Folder, spec)
	if fault != nil {
		imp.rollback()
		body.Fault_ = simulator.Fault("", fault)
		return body
	}

	lease := simulator.NewHttpNfcLease(ctx, vappRef)
	ref := lease.Reference()
	lease.Info.Lease = ref
	var capKB int64
	var childLeases []types.ManagedObjectReference
	for _, c := range imp.children {
		lease.Info.DeviceUrl = append(lease.Info.DeviceUrl, c.urls...)
		capKB += c.capKB
		childLeases = append(childLeases, c.lease)
	}
	lease.Info.TotalDiskCapacityInKB = capKB
	ctx.Session.Put(&VAppLease{HttpNfcLease: *lease, children: childLeases})

	if ext != nil {
		ext.recordVAppImport(ref.Value, spec.Name, vappRef.Value, imp.children)
	}
	log.Printf("vApp import lease %s for %s (%s): %d VM(s), %d deviceUrl(s)", ref.Value, spec.Name, vappRef.Value, len(imp.children), len(lease.Info.DeviceUrl))
	body.Res = &types.ImportVAppResponse{Returnval: ref}
	return body
}

// create makes the vApp of spec under parent (a ResourcePool or VirtualApp), then its
// children, and returns the vApp.
func (imp *vappImport) create(parent types.ManagedObjectReference, folder *types.ManagedObjectReference, spec *types.VirtualAppImportSpec) (types.ManagedObjectReference, types.BaseMethodFault) {
	var none types.ManagedObjectReference
	vappRef, inFolder, fault := imp.createVApp(parent, folder, spec)
	if fault != nil {
		return none, fault
	}
	imp.vapps = append(imp.vapps, vappRef)
	vapp, ok := simulator.Map.Get(vappRef).(*simulator.VirtualApp)
	if !ok {
		return none, &types.ManagedObjectNotFound{Obj: vappRef}
	}
	if inFolder && vapp.ParentFolder != nil {
		// vCenter lists a top-level vApp in its folder (vcsim's CreateVApp does not).
		if f, ok := simulator.Map.Get(*vapp.ParentFolder).(*simulator.Folder); ok {
			simulator.Map.AddReference(f, &f.ChildEntity, vappRef)
		}
	}
	entities, fault := imp.createChildren(vapp, spec.Child)
	if fault != nil {
		return none, fault
	}
	if len(entities) > 0 {
		simulator.Map.WithLock(vapp, func() {
			if vapp.VAppConfig != nil {
				vapp.VAppConfig.EntityConfig = append(vapp.VAppConfig.EntityConfig, entities...)
			}
		})
	}
	return vappRef, nil
}

// createVApp calls vcsim's CreateVApp on parent for spec, and tells whether the new vApp is
// a top-level one (in folder, under a ResourcePool) rather than nested in a VirtualApp.
func (imp *vappImport) createVApp(parent types.ManagedObjectReference, folder *types.ManagedObjectReference, spec *types.VirtualAppImportSpec) (ref types.ManagedObjectReference, inFolder bool, fault types.BaseMethodFault) {
	cspec := spec.VAppConfigSpec
	cspec.Product = nil
	for _, p := range spec.VAppConfigSpec.Product {
		if p.Info != nil { // vcsim's CreateVApp dereferences it
			cspec.Product = append(cspec.Product, p)
		}
	}
	create := &types.CreateVApp{This: parent, Name: spec.Name, ResSpec: completeResourceSpec(spec.ResourcePoolSpec), ConfigSpec: cspec, VmFolder: folder}

	var res soap.HasFault
	switch p := simulator.Map.Get(parent).(type) {
	case *simulator.ResourcePool:
		if folder != nil {
			if _, ok := simulator.Map.Get(*folder).(*simulator.Folder); !ok {
				return ref, false, &types.ManagedObjectNotFound{Obj: *folder}
			}
		}
		invoke(imp.ctx, p, func() { res = p.CreateVApp(create) })
		inFolder = true
	case *simulator.VirtualApp:
		create.VmFolder = p.ParentFolder
		invoke(imp.ctx, p, func() {
			res = p.CreateVApp(create)
			// vcsim's VirtualApp.CreateVApp appends the child to a copy of the pool.
			if b, ok := res.(*methods.CreateVAppBody); ok && b.Res != nil {
				p.ResourcePool.ResourcePool = append(p.ResourcePool.ResourcePool, b.Res.Returnval)
			}
		})
	default:
		return ref, false, &types.ManagedObjectNotFound{Obj: parent}
	}
	if fault := methodFault(res, &types.InvalidArgument{InvalidProperty: "spec"}); fault != nil {
		return ref, false, fault
	}
	return res.(*methods.CreateVAppBody).Res.Returnval, inFolder, nil
}

// createChildren imports the VMs and nested vApps of a vApp spec into vapp, and returns
// their entity configs (the StartupSection entries), keyed by the entities created.
func (imp *vappImport) createChildren(vapp *simulator.VirtualApp, children []types.BaseImportSpec) ([]types.VAppEntityConfigInfo, types.BaseMethodFault) {
	var entities []types.VAppEntityConfigInfo
	for _, child := range children {
		var ref types.ManagedObjectReference
		switch c := child.(type) {
		case *types.VirtualMachineImportSpec:
			ch, fault := imp.createVM(vapp, c)
			if fault != nil {
				return nil, fault
			}
			ref = ch.vm
		case *types.VirtualAppImportSpec:
			r, fault := imp.create(vapp.Self, nil, c)
			if fault != nil {
				return nil, fault
			}
			ref = r
		default:
			return nil, &types.InvalidArgument{InvalidProperty: "spec.child"}
		}
		if ec := child.GetImportSpec().EntityConfig; ec != nil {
			e := *ec
			e.Key = &ref
			entities = append(entities, e)
		}
	}
	return entities, nil
}

// methodFault is the fault a vcsim method answered (nil when none): its vim fault, or
// fallback when that is not a method fault.
func methodFault(res soap.HasFault, fallback types.BaseMethodFault) types.BaseMethodFault {
	f := res.Fault()
	if f == nil {
		return nil
	}
	if mf, ok := f.VimFault().(types.BaseMethodFault); ok {
		return mf
	}
	return fallback
}

// completeResourceSpec fills what a ResourceConfigSpec leaves out with vcsim's defaults
// (its CreateVApp insists on every allocation field).
func completeResourceSpec(s types.ResourceConfigSpec) types.ResourceConfigSpec {
	def := types.DefaultResourceConfigSpec()
	fill := func(a, d *types.ResourceAllocationInfo) {
		if a.Reservation == nil {
			a.Reservation = d.Reservation
		}
		if a.Limit == nil {
			a.Limit = d.Limit
		}
		if a.ExpandableReservation == nil {
			a.ExpandableReservation = d.ExpandableReservation
		}
		if a.Shares == nil {
			a.Shares = d.Shares
		}
	}
	fill(&s.CpuAllocation, &def.CpuAllocation)
	fill(&s.MemoryAllocation, &def.MemoryAllocation)
	return s
}

// createVM imports one child VM into vapp with vcsim's own ImportVApp, which creates the
// VM in the vApp and a lease for its files.
func (imp *vappImport) createVM(vapp *simulator.VirtualApp, spec *types.VirtualMachineImportSpec) (*vappChild, types.BaseMethodFault) {
	ctx := imp.ctx
	var res soap.HasFault
	invoke(ctx, vapp, func() {
		res = vapp.ImportVApp(ctx, &types.ImportVApp{This: vapp.Self, Spec: spec, Host: imp.host})
	})
	if fault := methodFault(res, &types.InvalidArgument{InvalidProperty: "spec.child"}); fault != nil {
		return nil, fault
	}
	leaseRef := res.(*methods.ImportVAppBody).Res.Returnval
	lease, ok := ctx.Session.Get(leaseRef).(*simulator.HttpNfcLease)
	if !ok {
		return nil, &types.ManagedObjectNotFound{Obj: leaseRef}
	}
	ch := &vappChild{vm: lease.Info.Entity, name: spec.ConfigSpec.Name, vapp: vapp.Name, lease: leaseRef, urls: lease.Info.DeviceUrl, files: map[string]string{}}
	imp.children = append(imp.children, ch)
	vm, ok := simulator.Map.Get(ch.vm).(*simulator.VirtualMachine)
	if !ok {
		return nil, &types.ManagedObjectNotFound{Obj: ch.vm}
	}
	vappRef := vapp.Self
	simulator.Map.WithLock(vm, func() {
		vm.ParentVApp = &vappRef
		ch.name = vm.Name
		ch.files = vmFiles(vm)
		for _, d := range vm.Config.Hardware.Device {
			if disk, ok := d.(*types.VirtualDisk); ok {
				ch.capKB += disk.CapacityInKB
			}
		}
	})
	return ch, nil
}

// rollback undoes a failed import: ends the child leases, destroys the VMs and vApps.
func (imp *vappImport) rollback() {
	ctx := imp.ctx
	for _, c := range imp.children {
		endLease(ctx, c.lease, false)
	}
	for i := len(imp.vapps) - 1; i >= 0; i-- {
		if err := destroyVApp(ctx, imp.vapps[i]); err != nil {
			log.Printf("vApp import rollback: destroying %s: %T", imp.vapps[i].Value, err)
		}
	}
}

// endLease completes (or aborts) a lease of ctx's session.
func endLease(ctx *simulator.Context, ref types.ManagedObjectReference, complete bool) {
	l, ok := ctx.Session.Get(ref).(*simulator.HttpNfcLease)
	if !ok {
		return
	}
	if complete {
		l.HttpNfcLeaseComplete(ctx, &types.HttpNfcLeaseComplete{This: ref})
	} else {
		l.HttpNfcLeaseAbort(ctx, &types.HttpNfcLeaseAbort{This: ref})
	}
}

// VAppLease is the single lease of a vApp import; Complete and Abort also end the child
// VMs' internal leases (whose URLs the deviceUrls are).
type VAppLease struct {
	simulator.HttpNfcLease
	children []types.ManagedObjectReference
}

// HttpNfcLeaseComplete ends the child leases and this one.
func (l *VAppLease) HttpNfcLeaseComplete(ctx *simulator.Context, req *types.HttpNfcLeaseComplete) soap.HasFault {
	for _, c := range l.children {
		endLease(ctx, c, true)
	}
	return l.HttpNfcLease.HttpNfcLeaseComplete(ctx, req)
}

// HttpNfcLeaseAbort ends the child leases and this one. Like vcsim's for a single VM, it
// leaves the vApp and its VMs in place (vCenter would delete them).
func (l *VAppLease) HttpNfcLeaseAbort(ctx *simulator.Context, req *types.HttpNfcLeaseAbort) soap.HasFault {
	for _, c := range l.children {
		endLease(ctx, c, false)
	}
	return l.HttpNfcLease.HttpNfcLeaseAbort(ctx, req)
}

// ---------------------------------------------------------------- Destroy_Task

// DestroyTask destroys the VirtualApp h.Target with its VMs and nested vApps.
func (h *VAppHelper) DestroyTask(ctx *simulator.Context, req *types.Destroy_Task) soap.HasFault {
	body := new(methods.Destroy_TaskBody)
	vapp, ok := simulator.Map.Get(h.Target).(*simulator.VirtualApp)
	if !ok {
		body.Fault_ = simulator.Fault("", &types.ManagedObjectNotFound{Obj: h.Target})
		return body
	}
	task := simulator.CreateTask(vapp, "destroy", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return nil, destroyVApp(ctx, h.Target)
	})
	body.Res = &types.Destroy_TaskResponse{Returnval: task.Run()}
	return body
}

// destroyVApp destroys a VirtualApp: its VMs (which must be powered off), nested vApps,
// then the vApp itself (from its parent pool, its folder and the inventory). Other child
// resource pools move to the parent, as vcsim does for pools.
func destroyVApp(ctx *simulator.Context, ref types.ManagedObjectReference) types.BaseMethodFault {
	vapp, ok := simulator.Map.Get(ref).(*simulator.VirtualApp)
	if !ok {
		return &types.ManagedObjectNotFound{Obj: ref}
	}
	if fault := checkPoweredOff(ref); fault != nil {
		return fault
	}
	var vms, pools []types.ManagedObjectReference
	simulator.Map.WithLock(vapp, func() {
		vms = append(vms, vapp.Vm...)
		pools = append(pools, vapp.ResourcePool.ResourcePool...)
	})
	for _, r := range vms {
		vm, ok := simulator.Map.Get(r).(*simulator.VirtualMachine)
		if !ok {
			simulator.Map.RemoveReference(vapp, &vapp.Vm, r)
			continue
		}
		var res soap.HasFault
		invoke(ctx, vm, func() { res = vm.DestroyTask(ctx, &types.Destroy_Task{This: r}) })
		if fault := methodFault(res, &types.InvalidState{}); fault != nil {
			return fault
		}
		if t, ok := simulator.Map.Get(res.(*methods.Destroy_TaskBody).Res.Returnval).(*simulator.Task); ok && t.Info.Error != nil {
			return t.Info.Error.Fault
		}
		// vcsim removes it from vapp.Vm (UnregisterVM); make sure.
		simulator.Map.RemoveReference(vapp, &vapp.Vm, r)
	}
	var moved []types.ManagedObjectReference
	for _, r := range pools {
		if r.Type == "VirtualApp" {
			if fault := destroyVApp(ctx, r); fault != nil {
				return fault
			}
			continue
		}
		moved = append(moved, r)
	}

	if vapp.Parent != nil {
		switch p := simulator.Map.Get(*vapp.Parent).(type) {
		case *simulator.ResourcePool:
			simulator.Map.WithLock(p, func() {
				simulator.RemoveReference(&p.ResourcePool.ResourcePool, ref)
				p.ResourcePool.ResourcePool = append(p.ResourcePool.ResourcePool, moved...)
			})
			setParents(moved, p.Self)
		case *simulator.VirtualApp:
			simulator.Map.WithLock(p, func() {
				simulator.RemoveReference(&p.ResourcePool.ResourcePool, ref)
				p.ResourcePool.ResourcePool = append(p.ResourcePool.ResourcePool, moved...)
			})
			setParents(moved, p.Self)
		}
	}
	if vapp.ParentFolder != nil {
		if f, ok := simulator.Map.Get(*vapp.ParentFolder).(*simulator.Folder); ok {
			simulator.Map.RemoveReference(f, &f.ChildEntity, ref)
		}
	}
	simulator.Map.Remove(ref)
	log.Printf("destroyed vApp %s (%s) with %d VM(s)", vapp.Name, ref.Value, len(vms))
	return nil
}

func setParents(refs []types.ManagedObjectReference, parent types.ManagedObjectReference) {
	for _, r := range refs {
		if e, ok := simulator.Map.Get(r).(mo.Entity); ok {
			simulator.Map.WithLock(e, func() { e.Entity().Parent = &parent })
		}
	}
}

// checkPoweredOff faults InvalidPowerState when a VM of the vApp (nested ones included) is
// not powered off, before anything is destroyed.
func checkPoweredOff(ref types.ManagedObjectReference) types.BaseMethodFault {
	vapp, ok := simulator.Map.Get(ref).(*simulator.VirtualApp)
	if !ok {
		return nil
	}
	var vms, pools []types.ManagedObjectReference
	simulator.Map.WithLock(vapp, func() {
		vms = append(vms, vapp.Vm...)
		pools = append(pools, vapp.ResourcePool.ResourcePool...)
	})
	for _, r := range vms {
		vm, ok := simulator.Map.Get(r).(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		var state types.VirtualMachinePowerState
		simulator.Map.WithLock(vm, func() { state = vm.Runtime.PowerState })
		if state == types.VirtualMachinePowerStatePoweredOn {
			return &types.InvalidPowerState{RequestedState: types.VirtualMachinePowerStatePoweredOff, ExistingState: state}
		}
	}
	for _, r := range pools {
		if r.Type == "VirtualApp" {
			if f := checkPoweredOff(r); f != nil {
				return f
			}
		}
	}
	return nil
}

// ---------------------------------------------------------------- bookkeeping

// nfcAlias attributes uploads to a child VM's internal lease to the vApp lease and the VM.
type nfcAlias struct {
	lease string // the vApp lease (what the client holds)
	vm    string
	moref string
	vapp  string
	files map[string]string
}

// recordVAppImport notes a vApp lease and its children in the index.
func (e *extension) recordVAppImport(lease, vappName, vappMoref string, children []*vappChild) {
	rec := &leaseRecord{Lease: lease, Kind: "import", VM: vappName, VMMoref: vappMoref, EntityType: "VirtualApp", State: "ready", Created: now(), files: map[string]string{}}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.aliases == nil {
		e.aliases = map[string]*nfcAlias{}
	}
	for _, c := range children {
		var names []string
		for n := range c.files {
			names = append(names, n)
		}
		sort.Strings(names)
		rec.Children = append(rec.Children, leaseChild{VM: c.name, VMMoref: c.vm.Value, VApp: c.vapp, NFCLease: c.lease.Value, Files: names})
		e.aliases[c.lease.Value] = &nfcAlias{lease: lease, vm: c.name, moref: c.vm.Value, vapp: c.vapp, files: c.files}
	}
	e.leases[lease] = rec
	e.order = append(e.order, lease)
	_ = e.writeIndexLocked()
}
