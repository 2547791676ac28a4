package main

// What vcsim 0.24.2 lacks for exports: VirtualMachine.ExportVm, the export lease's
// HttpNfcLeaseGetManifest / HttpNfcLeaseSetManifestChecksumType, the /nfc-export/ download
// route (with Range), and OvfManager.CreateDescriptor.
//
// vcsim dispatches a SOAP call by reflection on the object registered under `_this`. A VM is
// wrapped (by value: ExportableVM{VirtualMachine}) only for the duration of an ExportVm call
// and put back afterwards, because vcsim asserts .(*VirtualMachine) in many places.

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"path"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// ext is the running extension (ExportVm runs inside vcsim's dispatcher and needs it).
var ext *extension

type exportFile struct {
	key      string // deviceUrl.key
	target   string // deviceUrl.targetId, the name in the URL
	path     string // datastore file
	capacity int64  // bytes
	disk     bool
}

type exportLease struct {
	vm        string
	files     []exportFile
	checksums map[string]string // deviceUrl.key -> "sha1" | "sha256"
	// digests computed while a file streamed whole: target -> {size, sha1, sha256}
	digests map[string]streamDigest
}

type streamDigest struct {
	size         int64
	sha1, sha256 string
}

// storeDigests records the checksums of a whole-file download of `target` in lease `id`.
func (s *exportState) storeDigests(id, target string, size int64, sha1hex, sha256hex string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.leases[id]; l != nil {
		if l.digests == nil {
			l.digests = map[string]streamDigest{}
		}
		l.digests[target] = streamDigest{size: size, sha1: sha1hex, sha256: sha256hex}
	}
}

type exportState struct {
	mu     sync.Mutex
	leases map[string]*exportLease
}

func newExportState() *exportState { return &exportState{leases: map[string]*exportLease{}} }

func (s *exportState) get(id string) *exportLease {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leases[id]
}

func (s *exportState) forget(id string) {
	s.mu.Lock()
	delete(s.leases, id)
	s.mu.Unlock()
}

// ExportableVM adds ExportVm to a VirtualMachine. It embeds by value: the PropertyCollector
// only descends embedded struct values.
type ExportableVM struct {
	simulator.VirtualMachine
}

// wrapVM registers an ExportableVM for ref and returns the function that puts the plain
// VirtualMachine (with whatever state the call left) back.
func wrapVM(e *extension, ref types.ManagedObjectReference) func() {
	ext = e
	vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return func() {} // vcsim answers ManagedObjectNotFound or MethodNotFound
	}
	var w *ExportableVM
	simulator.Map.WithLock(vm, func() {
		w = &ExportableVM{*vm}
		simulator.Map.Put(w)
	})
	return func() {
		simulator.Map.WithLock(w, func() {
			simulator.Map.Put(&w.VirtualMachine)
		})
	}
}

// ExportVm creates an export lease: one deviceUrl per virtual disk, served from
// /nfc-export/<lease>/<file>. The VM must be powered off.
func (vm *ExportableVM) ExportVm(ctx *simulator.Context, req *types.ExportVm) soap.HasFault {
	body := new(methods.ExportVmBody)
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
		body.Fault_ = simulator.Fault("", &types.InvalidPowerState{
			RequestedState: types.VirtualMachinePowerStatePoweredOff,
			ExistingState:  vm.Runtime.PowerState,
		})
		return body
	}
	lease := simulator.NewHttpNfcLease(ctx, vm.Self)
	ref := lease.Reference()
	lease.Info.Lease = ref
	lease.Info.LeaseTimeout = 300

	el := &exportLease{vm: vm.Name, checksums: map[string]string{}}
	devices := object.VirtualDeviceList(vm.Config.Hardware.Device)
	used := map[string]bool{}
	var capKB int64
	for _, d := range devices {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		info, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
		if !ok {
			continue
		}
		file := datastoreFile(&vm.VirtualMachine, info.GetVirtualDeviceFileBackingInfo().FileName)
		if file == "" {
			continue
		}
		target := path.Base(file)
		for i := 1; used[target]; i++ {
			target = fmt.Sprintf("%s-%d%s", strings.TrimSuffix(path.Base(file), path.Ext(file)), i, path.Ext(file))
		}
		used[target] = true
		key := fmt.Sprintf("/%s/%s", vm.Self.Value, controllerSlot(devices, disk))
		var size int64
		if st, err := os.Stat(file); err == nil {
			size = st.Size()
		}
		capKB += disk.CapacityInKB
		el.files = append(el.files, exportFile{key: key, target: target, path: file, capacity: disk.CapacityInKB * 1024, disk: true})
		lease.Info.DeviceUrl = append(lease.Info.DeviceUrl, types.HttpNfcLeaseDeviceUrl{
			Key:      key,
			Url:      (&url.URL{Scheme: "https", Host: "*", Path: "/nfc-export/" + ref.Value + "/" + target}).String(),
			Disk:     types.NewBool(true),
			TargetId: target,
			FileSize: size,
		})
	}
	lease.Info.TotalDiskCapacityInKB = capKB

	// Re-register the lease under the same moref with the manifest methods added.
	ctx.Session.Put(&ExportLease{*lease})

	ext.exports.mu.Lock()
	ext.exports.leases[ref.Value] = el
	ext.exports.mu.Unlock()
	ext.mu.Lock()
	ext.leases[ref.Value] = &leaseRecord{Lease: ref.Value, Kind: "export", VM: vm.Name, VMMoref: vm.Self.Value, State: "ready", Created: now()}
	ext.order = append(ext.order, ref.Value)
	_ = ext.writeIndexLocked()
	ext.mu.Unlock()
	log.Printf("export lease %s for %s: %d disk(s)", ref.Value, vm.Name, len(el.files))

	body.Res = &types.ExportVmResponse{Returnval: ref}
	return body
}

// controllerSlot names a disk's position like vCenter's deviceUrl keys:
// "<ControllerType><bus>:<unit>", e.g. "VirtualLsiLogicController0:0".
func controllerSlot(devices object.VirtualDeviceList, d *types.VirtualDisk) string {
	unit := int32(0)
	if d.UnitNumber != nil {
		unit = *d.UnitNumber
	}
	c := devices.FindByKey(d.ControllerKey)
	if c == nil {
		return fmt.Sprintf("disk%d:%d", d.ControllerKey, unit)
	}
	bus := int32(0)
	if bc, ok := c.(types.BaseVirtualController); ok {
		bus = bc.GetVirtualController().BusNumber
	}
	return fmt.Sprintf("%s%d:%d", reflect.TypeOf(c).Elem().Name(), bus, unit)
}

// ExportLease is an export HttpNfcLease with the manifest methods.
type ExportLease struct {
	simulator.HttpNfcLease
}

// HttpNfcLeaseSetManifestChecksumType selects sha1 or sha256 per deviceUrl key.
func (l *ExportLease) HttpNfcLeaseSetManifestChecksumType(ctx *simulator.Context, req *types.HttpNfcLeaseSetManifestChecksumType) soap.HasFault {
	body := new(methods.HttpNfcLeaseSetManifestChecksumTypeBody)
	el := ext.exports.get(l.Self.Value)
	if el == nil {
		body.Fault_ = simulator.Fault("lease is not active", &types.InvalidState{})
		return body
	}
	for _, kv := range req.DeviceUrlsToChecksumTypes {
		t := kv.Value
		if t != "sha1" && t != "sha256" {
			body.Fault_ = simulator.Fault("checksum type must be sha1 or sha256", &types.InvalidArgument{InvalidProperty: "deviceUrlsToChecksumTypes"})
			return body
		}
		ext.exports.mu.Lock()
		el.checksums[kv.Key] = t
		ext.exports.mu.Unlock()
	}
	body.Res = new(types.HttpNfcLeaseSetManifestChecksumTypeResponse)
	return body
}

// HttpNfcLeaseGetManifest hashes each disk as it is now on the datastore.
func (l *ExportLease) HttpNfcLeaseGetManifest(ctx *simulator.Context, req *types.HttpNfcLeaseGetManifest) soap.HasFault {
	body := new(methods.HttpNfcLeaseGetManifestBody)
	el := ext.exports.get(l.Self.Value)
	if el == nil {
		body.Fault_ = simulator.Fault("lease is not active", &types.InvalidState{})
		return body
	}
	res := &types.HttpNfcLeaseGetManifestResponse{}
	for _, f := range el.files {
		// Checksums of a completed download, as ESXi computes them while streaming; a file
		// never downloaded whole (or changed since) is hashed now.
		ext.exports.mu.Lock()
		d, ok := el.digests[f.target]
		ext.exports.mu.Unlock()
		if st, err := os.Stat(f.path); !ok || err != nil || st.Size() != d.size {
			h1, h256 := sha1.New(), sha256.New()
			n, err := hashFile(f.path, io.MultiWriter(h1, h256))
			if err != nil {
				body.Fault_ = simulator.Fault(err.Error(), &types.FileFault{File: f.target})
				return body
			}
			d = streamDigest{size: n, sha1: hex.EncodeToString(h1.Sum(nil)), sha256: hex.EncodeToString(h256.Sum(nil))}
		}
		n := d.size
		e := types.HttpNfcLeaseManifestEntry{
			Key: f.key, Sha1: d.sha1, Size: n, Disk: f.disk,
			Capacity: f.capacity, PopulatedSize: n,
		}
		ext.exports.mu.Lock()
		t := el.checksums[f.key]
		ext.exports.mu.Unlock()
		switch t {
		case "sha256":
			e.Checksum, e.ChecksumType = d.sha256, "sha256"
		case "sha1":
			e.Checksum, e.ChecksumType = e.Sha1, "sha1"
		}
		res.Returnval = append(res.Returnval, e)
	}
	body.Res = res
	return body
}

func hashFile(p string, w io.Writer) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(w, f)
}

// serveExport answers GET /nfc-export/<lease>/<file> (Range supported) while the export
// lease is active. Each GET of a file is recorded in index.json "downloads" and may be cut
// by an injected fault (download.go); HEAD is neither recorded nor faulted.
func (e *extension) serveExport(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(r.URL.Path, "/")
	if len(parts) != 4 {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	el := e.exports.get(parts[2])
	if el == nil {
		http.NotFound(w, r)
		return
	}
	for _, f := range el.files {
		if f.target != parts[3] {
			continue
		}
		fh, err := os.Open(f.path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer fh.Close()
		if r.Method == http.MethodHead {
			w.Header().Set("Content-Type", "application/x-vnd.vmware-streamVmdk")
			http.ServeContent(w, r, "", time.Time{}, fh)
			return
		}
		e.serveDownload(w, r, parts[2], el.vm, f.target, fh)
		return
	}
	http.NotFound(w, r)
}
