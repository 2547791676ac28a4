package main

// RelocateVM_Task into another resource pool, as vCenter does it. This is what vCloud
// Director does to a VM it imports with sourceMove="true": it migrates the VM into the org
// VDC's resource pool, out of the vSphere vApp it sat in, and renames it "NAME (UUID)"
// (docs: the vCD API reference's sourceMove; VCAT 3.1's import workflow). The vCD simulator
// (tests/src/vcdsim) calls RelocateVM_Task and Rename_Task here when such an import succeeds,
// so the importer under test sees the vApp lose its VMs one by one, as it would for real.
//
// vcsim 0.24.2 gets the pool part wrong: it removes the VM from the *target* pool's `vm`
// list and leaves it in the old pool's (or vApp's), so a vApp would go on listing a VM that
// left it. Here the VM leaves the old pool's or vApp's `vm` list, joins the new one's, gets
// the new resourcePool and loses parentVApp. A relocation that also names a datastore, host or
// folder is left to vcsim (nothing in odt's tests does that).
//
// Dispatch works as for vApps (vapp.go): the /sdk hook rewrites `_this` of such a call to a
// helper object (type OdtVM, same value) whose method works on the real VM.

import (
	"regexp"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// vmHelperType is the moref type the /sdk hook redirects pool relocations to.
const vmHelperType = "OdtVM"

// VMHelper receives RelocateVM_Task calls meant for Target (a VirtualMachine) that move it
// into another resource pool.
type VMHelper struct {
	mo.ExtensibleManagedObject
	Target types.ManagedObjectReference
}

// isPoolMove says whether a RelocateVM_Task only changes the VM's resource pool: the one
// relocation this extension does itself.
func isPoolMove(req *types.RelocateVM_Task) bool {
	s := req.Spec
	return s.Pool != nil && s.Datastore == nil && s.Host == nil && s.Folder == nil && len(s.Disk) == 0
}

var vmThisRe = regexp.MustCompile(`(<(?:[\w.-]+:)?_this\b[^>]*?\stype=)(["'])(VirtualMachine)(["'])`)

// redirectVMThis rewrites the type of the request's `_this` (a VirtualMachine) to the
// helper's, registering the helper; nil when it cannot find it.
func redirectVMThis(body []byte, target types.ManagedObjectReference) []byte {
	loc := vmThisRe.FindSubmatchIndex(body)
	if loc == nil {
		return nil
	}
	ref := types.ManagedObjectReference{Type: vmHelperType, Value: target.Value}
	if h, ok := simulator.Map.Get(ref).(*VMHelper); !ok || h.Target != target {
		h := &VMHelper{Target: target}
		h.Self = ref
		simulator.Map.Put(h)
	}
	out := make([]byte, 0, len(body)+4)
	out = append(out, body[:loc[6]]...)
	out = append(out, vmHelperType...)
	out = append(out, body[loc[7]:]...)
	return out
}

// RelocateVMTask moves h.Target into req.Spec.Pool.
func (h *VMHelper) RelocateVMTask(ctx *simulator.Context, req *types.RelocateVM_Task) soap.HasFault {
	body := new(methods.RelocateVM_TaskBody)
	vm, ok := simulator.Map.Get(h.Target).(*simulator.VirtualMachine)
	if !ok {
		body.Fault_ = simulator.Fault("", &types.ManagedObjectNotFound{Obj: h.Target})
		return body
	}
	to := *req.Spec.Pool
	task := simulator.CreateTask(vm, "relocateVm", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return nil, movePool(vm, to)
	})
	body.Res = &types.RelocateVM_TaskResponse{Returnval: task.Run()}
	return body
}

// poolVMs is the `vm` list of a resource pool or vApp.
func poolVMs(obj mo.Reference) (*[]types.ManagedObjectReference, bool) {
	switch p := obj.(type) {
	case *simulator.ResourcePool:
		return &p.Vm, true
	case *simulator.VirtualApp:
		return &p.Vm, true
	}
	return nil, false
}

// movePool takes vm out of its pool (or vApp) and puts it into `to`.
func movePool(vm *simulator.VirtualMachine, to types.ManagedObjectReference) types.BaseMethodFault {
	dst := simulator.Map.Get(to)
	dstVMs, ok := poolVMs(dst)
	if !ok {
		return &types.ManagedObjectNotFound{Obj: to}
	}
	var from types.ManagedObjectReference
	simulator.Map.WithLock(vm, func() {
		if vm.ResourcePool != nil {
			from = *vm.ResourcePool
		}
		vm.ResourcePool = &to
		vm.ParentVApp = nil
	})
	if src := simulator.Map.Get(from); src != nil {
		if srcVMs, ok := poolVMs(src); ok {
			simulator.Map.RemoveReference(src, srcVMs, vm.Self)
		}
	}
	simulator.Map.AddReference(dst, dstVMs, vm.Self)
	return nil
}
