package main

// Standard port groups per host, for the importer's network checks:
//
//   - -hosts-without-vm-network H1,H2 (and POST /odt-test/remove-vm-network?host=H) take
//     the "VM Network" port group away from some hosts, so that HostSystem.network,
//     Network.host, HostSystem.config.network and the HostNetworkSystem's networkInfo all
//     say those hosts lack it while the others still have it;
//   - HostNetworkSystem.AddPortGroup behaves like ESXi under vCenter: a port group whose
//     name is already a standard Network of the datacenter joins that Network (vcsim 0.24.2
//     faults DuplicateName there); AlreadyExists only when this host has it; NotFound for
//     an unknown vSwitch; a new name creates the Network. The host and the Network are
//     linked both ways (HostSystem.network, Network.host), which vcsim never does.
//   - RemovePortGroup undoes that for one host only (vcsim's deletes the Network object
//     for everybody); the Network object itself stays, as vCenter keeps it for its VMs.
//   - ComputeResource.network (cluster or standalone) follows its hosts' lists.
//
// Not modelled: a new port group named like a DVPG still faults DuplicateName (vcsim's own
// check), and vcsim places imported VMs on any host of the pool, whether or not that host
// has the mapped network.
//
// Each host's network system is registered as a PortGroupNetworkSystem, which embeds
// simulator.HostNetworkSystem by value (the PropertyCollector only descends embedded
// struct values) and shadows AddPortGroup and RemovePortGroup; vcsim dispatches SOAP calls
// by reflection on the registered object, and nothing in vcsim asserts
// .(*HostNetworkSystem). Slices are never edited in place: vcsim's model shares backing
// arrays between hosts, clusters and the datacenter (host.Network = cr.Network[:1] =
// dc.Network[:1]), so an in-place edit would change the datacenter's default network.

import (
	"fmt"
	"log"
	"sort"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// vmNetwork is the standard port group vcsim gives every host.
const vmNetwork = "VM Network"

// PortGroupNetworkSystem is a HostNetworkSystem with ESXi-like port group handling.
type PortGroupNetworkSystem struct {
	simulator.HostNetworkSystem
}

// installNetworkSystems wraps every host's network system and links each standard
// Network to the hosts that list it (Network.host, empty in vcsim).
func installNetworkSystems() {
	all := simulator.Map.All("HostSystem")
	sort.Slice(all, func(i, j int) bool { return all[i].Reference().Value < all[j].Reference().Value })
	for _, e := range all {
		h, ok := e.(*simulator.HostSystem)
		if !ok || h.ConfigManager.NetworkSystem == nil {
			continue
		}
		wrapNetworkSystem(*h.ConfigManager.NetworkSystem)
		for _, ref := range h.Network {
			if n, ok := simulator.Map.Get(ref).(*mo.Network); ok {
				simulator.Map.WithLock(n, func() {
					setRefs(n, "host", &n.Host, withRef(n.Host, h.Self))
				})
			}
		}
	}
}

// wrapNetworkSystem registers a PortGroupNetworkSystem under ref (a no-op when it already
// is one) and returns it; nil when ref is no host network system.
func wrapNetworkSystem(ref types.ManagedObjectReference) *PortGroupNetworkSystem {
	switch ns := simulator.Map.Get(ref).(type) {
	case *PortGroupNetworkSystem:
		return ns
	case *simulator.HostNetworkSystem:
		var w *PortGroupNetworkSystem
		simulator.Map.WithLock(ns, func() {
			w = &PortGroupNetworkSystem{*ns}
			simulator.Map.Put(w)
		})
		return w
	default:
		return nil
	}
}

// AddPortGroup adds a standard port group to this host, like ESXi managed by vCenter.
func (s *PortGroupNetworkSystem) AddPortGroup(ctx *simulator.Context, c *types.AddPortGroup) soap.HasFault {
	r := &methods.AddPortGroupBody{}
	name := c.Portgrp.Name
	if name == "" {
		r.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "portgrp.name"})
		return r
	}
	if s.vswitch(c.Portgrp.VswitchName) < 0 {
		r.Fault_ = simulator.Fault(fmt.Sprintf("vSwitch %q not found", c.Portgrp.VswitchName),
			&types.NotFound{})
		return r
	}
	if s.hasPortGroup(name) {
		// ESXi's message for vim.fault.AlreadyExists.
		r.Fault_ = simulator.Fault(fmt.Sprintf("The specified key, name, or identifier '%s' already exists.", name),
			&types.AlreadyExists{Name: name})
		return r
	}
	host := s.hostObject()
	if host == nil {
		r.Fault_ = simulator.Fault("the network system has no host", &types.NotFound{})
		return r
	}
	net := findStandardNetwork(host, name)
	if net == nil {
		// A new name: vcsim creates the Network and the port group entries.
		res := s.HostNetworkSystem.AddPortGroup(ctx, c)
		if res.Fault() != nil {
			return res
		}
		if net = findStandardNetwork(host, name); net == nil {
			r.Fault_ = simulator.Fault(fmt.Sprintf("network %q was not created", name),
				&types.NotFound{})
			return r
		}
		// vcsim's entry lacks the vswitch key: attach adds a complete one. (withoutPortGroup
		// copies, so the arrays vcsim appended to are left behind.)
		s.NetworkInfo.Portgroup = withoutPortGroup(s.NetworkInfo.Portgroup, name)
	}
	s.attach(host, net, c.Portgrp)
	log.Printf("AddPortGroup %q on %s: joined %s", name, host.Name, net.Self.Value)
	r.Res = &types.AddPortGroupResponse{}
	return r
}

// RemovePortGroup removes a standard port group from this host only.
func (s *PortGroupNetworkSystem) RemovePortGroup(ctx *simulator.Context, c *types.RemovePortGroup) soap.HasFault {
	r := &methods.RemovePortGroupBody{}
	if !s.hasPortGroup(c.PgName) {
		r.Fault_ = simulator.Fault(fmt.Sprintf("port group %q not found on this host", c.PgName),
			&types.NotFound{})
		return r
	}
	s.detach(c.PgName)
	r.Res = &types.RemovePortGroupResponse{}
	return r
}

// hostObject is the registry's HostSystem of this network system.
func (s *PortGroupNetworkSystem) hostObject() *simulator.HostSystem {
	if s.Host == nil {
		return nil
	}
	h, _ := simulator.Map.Get(s.Host.Self).(*simulator.HostSystem)
	return h
}

// vswitch is the index of the named vSwitch in NetworkInfo, or -1.
func (s *PortGroupNetworkSystem) vswitch(name string) int {
	if s.NetworkInfo == nil {
		return -1
	}
	for i := range s.NetworkInfo.Vswitch {
		if s.NetworkInfo.Vswitch[i].Name == name {
			return i
		}
	}
	return -1
}

// hasPortGroup says whether this host has a standard port group called name (in its
// network system's info or its config).
func (s *PortGroupNetworkSystem) hasPortGroup(name string) bool {
	if s.NetworkInfo != nil && hasPortGroup(s.NetworkInfo.Portgroup, name) {
		return true
	}
	has := false
	if h := s.hostObject(); h != nil {
		simulator.Map.WithLock(h, func() {
			has = h.Config != nil && h.Config.Network != nil && hasPortGroup(h.Config.Network.Portgroup, name)
		})
	}
	return has
}

func pgKey(name string) string { return "key-vim.host.PortGroup-" + name }

func vswitchKey(name string) string { return "key-vim.host.VirtualSwitch-" + name }

// attach adds port group spec (joining Network net) to this host: NetworkInfo (portgroup,
// vswitch portgroup names), HostSystem.config.network (portgroup, vswitch portgroup keys),
// HostSystem.network and Network.host. The caller holds the network system's lock.
func (s *PortGroupNetworkSystem) attach(host *simulator.HostSystem, net *mo.Network, spec types.HostPortGroupSpec) {
	pg := types.HostPortGroup{Key: pgKey(spec.Name), Vswitch: vswitchKey(spec.VswitchName), Spec: spec}
	s.NetworkInfo.Portgroup = append(append([]types.HostPortGroup(nil), s.NetworkInfo.Portgroup...), pg)
	i := s.vswitch(spec.VswitchName)
	vs := &s.NetworkInfo.Vswitch[i]
	if !contains(vs.Portgroup, spec.Name) {
		vs.Portgroup = append(append([]string(nil), vs.Portgroup...), spec.Name)
	}
	simulator.Map.WithLock(host, func() {
		if cfg := host.Config; cfg != nil && cfg.Network != nil {
			cn := cfg.Network
			if !hasPortGroup(cn.Portgroup, spec.Name) {
				cn.Portgroup = append(append([]types.HostPortGroup(nil), cn.Portgroup...), pg)
			}
			for j := range cn.Vswitch {
				if cn.Vswitch[j].Name == spec.VswitchName && !contains(cn.Vswitch[j].Portgroup, pg.Key) {
					cn.Vswitch[j].Portgroup = append(append([]string(nil), cn.Vswitch[j].Portgroup...), pg.Key)
				}
			}
		}
		setRefs(host, "network", &host.Network, withRef(host.Network, net.Self))
	})
	simulator.Map.WithLock(net, func() {
		setRefs(net, "host", &net.Host, withRef(net.Host, host.Self))
	})
	syncComputeResource(host, net.Self)
}

// detach removes the standard port group called name from this host everywhere attach
// adds it, and reports whether the host had it. The caller holds the network system's
// lock.
func (s *PortGroupNetworkSystem) detach(name string) bool {
	found := false
	if ni := s.NetworkInfo; ni != nil {
		found = hasPortGroup(ni.Portgroup, name)
		ni.Portgroup = withoutPortGroup(ni.Portgroup, name)
		for i := range ni.Vswitch {
			ni.Vswitch[i].Portgroup = without(ni.Vswitch[i].Portgroup, name, pgKey(name))
		}
	}
	host := s.hostObject()
	if host == nil {
		return found
	}
	var gone []*mo.Network
	simulator.Map.WithLock(host, func() {
		if cfg := host.Config; cfg != nil && cfg.Network != nil {
			cn := cfg.Network
			found = found || hasPortGroup(cn.Portgroup, name)
			cn.Portgroup = withoutPortGroup(cn.Portgroup, name)
			for i := range cn.Vswitch {
				cn.Vswitch[i].Portgroup = without(cn.Vswitch[i].Portgroup, name, pgKey(name))
			}
		}
		var keep []types.ManagedObjectReference
		for _, ref := range host.Network {
			if n, ok := simulator.Map.Get(ref).(*mo.Network); ok && n.Name == name {
				gone = append(gone, n)
				continue
			}
			keep = append(keep, ref)
		}
		if len(gone) > 0 {
			found = true
			setRefs(host, "network", &host.Network, keep)
		}
	})
	for _, n := range gone {
		n := n
		simulator.Map.WithLock(n, func() {
			setRefs(n, "host", &n.Host, withoutRef(n.Host, host.Self))
		})
		syncComputeResource(host, n.Self)
	}
	return found
}

// syncComputeResource makes network ref part of ComputeResource.network of host's parent
// (cluster or standalone compute resource) exactly when one of its hosts has it, as
// vCenter reports it.
func syncComputeResource(host *simulator.HostSystem, ref types.ManagedObjectReference) {
	if host.Parent == nil {
		return
	}
	obj := simulator.Map.Get(*host.Parent)
	var cr *mo.ComputeResource
	switch c := obj.(type) {
	case *simulator.ClusterComputeResource:
		cr = &c.ComputeResource
	case *mo.ComputeResource:
		cr = c
	default:
		return
	}
	var hosts []types.ManagedObjectReference
	simulator.Map.WithLock(obj, func() { hosts = append(hosts, cr.Host...) })
	used := false
	for _, h := range hosts {
		if ho, ok := simulator.Map.Get(h).(*simulator.HostSystem); ok {
			simulator.Map.WithLock(ho, func() { used = used || simulator.FindReference(ho.Network, ref) != nil })
		}
	}
	simulator.Map.WithLock(obj, func() {
		if used {
			setRefs(obj, "network", &cr.Network, withRef(cr.Network, ref))
		} else {
			setRefs(obj, "network", &cr.Network, withoutRef(cr.Network, ref))
		}
	})
}

// removePortGroupFromHost takes the standard port group called name away from the host
// called hostName (-hosts-without-vm-network, /odt-test/remove-vm-network). It reports
// whether the host had it; an unknown host is an error.
func removePortGroupFromHost(hostName, name string) (bool, error) {
	host := findHost(hostName)
	if host == nil {
		return false, fmt.Errorf("no host named %q", hostName)
	}
	if host.ConfigManager.NetworkSystem == nil {
		return false, fmt.Errorf("host %q has no network system", hostName)
	}
	ns := wrapNetworkSystem(*host.ConfigManager.NetworkSystem)
	if ns == nil {
		return false, fmt.Errorf("host %q: its network system is not a HostNetworkSystem", hostName)
	}
	found := false
	simulator.Map.WithLock(ns, func() { found = ns.detach(name) })
	log.Printf("removed port group %q from %s (had it: %v)", name, hostName, found)
	return found, nil
}

// findHost is the HostSystem called name, or nil.
func findHost(name string) *simulator.HostSystem {
	for _, e := range simulator.Map.All("HostSystem") {
		if h, ok := e.(*simulator.HostSystem); ok && h.Name == name {
			return h
		}
	}
	return nil
}

// findStandardNetwork is the Network (a standard port group, not a DVPG or an opaque
// network) called name in the network folder (and its subfolders) of host's datacenter.
func findStandardNetwork(host *simulator.HostSystem, name string) *mo.Network {
	dc := datacenterOf(host.Parent)
	if dc == nil {
		return nil
	}
	var walk func(ref types.ManagedObjectReference) *mo.Network
	walk = func(ref types.ManagedObjectReference) *mo.Network {
		switch o := simulator.Map.Get(ref).(type) {
		case *mo.Network:
			if o.Name == name {
				return o
			}
		case *simulator.Folder:
			for _, c := range o.ChildEntity {
				if n := walk(c); n != nil {
					return n
				}
			}
		}
		return nil
	}
	return walk(dc.NetworkFolder)
}

// datacenterOf walks up from ref to the enclosing Datacenter.
func datacenterOf(ref *types.ManagedObjectReference) *simulator.Datacenter {
	for i := 0; ref != nil && i < 64; i++ {
		obj := simulator.Map.Get(*ref)
		if dc, ok := obj.(*simulator.Datacenter); ok {
			return dc
		}
		e, ok := obj.(mo.Entity)
		if !ok {
			return nil
		}
		ref = e.Entity().Parent
	}
	return nil
}

// setRefs replaces a MoRef list property through the registry (so property collector
// filters see the change); the caller holds obj's lock.
func setRefs(obj mo.Reference, prop string, field *[]types.ManagedObjectReference, refs []types.ManagedObjectReference) {
	if refs == nil {
		refs = []types.ManagedObjectReference{}
	}
	simulator.Map.Update(obj, []types.PropertyChange{{Name: prop, Val: refs}})
	*field = refs // in case the update did not apply (unknown property name)
}

// withRef is a fresh copy of refs with ref appended unless present.
func withRef(refs []types.ManagedObjectReference, ref types.ManagedObjectReference) []types.ManagedObjectReference {
	out := make([]types.ManagedObjectReference, 0, len(refs)+1)
	out = append(out, refs...)
	if simulator.FindReference(refs, ref) == nil {
		out = append(out, ref)
	}
	return out
}

// withoutRef is a fresh copy of refs without ref.
func withoutRef(refs []types.ManagedObjectReference, ref types.ManagedObjectReference) []types.ManagedObjectReference {
	out := make([]types.ManagedObjectReference, 0, len(refs))
	for _, r := range refs {
		if r != ref {
			out = append(out, r)
		}
	}
	return out
}

func hasPortGroup(pgs []types.HostPortGroup, name string) bool {
	for _, pg := range pgs {
		if pg.Spec.Name == name {
			return true
		}
	}
	return false
}

// withoutPortGroup is a fresh copy of pgs without the port groups called name.
func withoutPortGroup(pgs []types.HostPortGroup, name string) []types.HostPortGroup {
	out := make([]types.HostPortGroup, 0, len(pgs))
	for _, pg := range pgs {
		if pg.Spec.Name != name {
			out = append(out, pg)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// without is a fresh copy of list without any of drop.
func without(list []string, drop ...string) []string {
	out := make([]string, 0, len(list))
	for _, x := range list {
		if !contains(drop, x) {
			out = append(out, x)
		}
	}
	return out
}

// splitNames splits a comma-separated list, dropping blanks.
func splitNames(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
