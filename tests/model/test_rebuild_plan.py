"""The rebuild plan (model/rebuild.py): names, URLs and VM parameters from rebuild.md §2, the
refusals, PVE version gates (§2.1), privileges per call (§2.2, §2.9) and the etcd recovery rules
(model/restore_rules.py: Kubernetes version skew policy, etcd upgrade guide)."""

from __future__ import annotations

import pytest

from model.catalog import Catalog
from model.plan import PlanError
from model.pve_access import has, missing, template_needs
from model.rebuild import RebuildPlan, RebuildVm, plan_rebuild, pve_refusals
from model.restore_rules import default_etcd, restore_refusals
from model.roles import Role
from model.schematic import ImageChoice
from model.versions import KubeVersion, TalosVersion

T, K = TalosVersion.parse, KubeVersion.parse
OLD = "dc7b152cb3ea99b821fcb7340ce7168313ce393d663740b791c36f6e95fc8586"
THREE = ("siderolabs/iscsi-tools", "siderolabs/qemu-guest-agent", "siderolabs/util-linux-tools")
VMS = [RebuildVm("cp1", 201, Role.CONTROL_PLANE, "127.0.0.11"),
       RebuildVm("w1", 301, Role.WORKER, "127.0.0.21")]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def make(catalog: Catalog, talos: str = "v1.12.4", k8s: str = "1.35.0", *,
         template: int = 9100, restore: bool = False,
         image: ImageChoice | None = None) -> RebuildPlan:
    return plan_rebuild(
        current=(T("v1.9.2"), K("1.32.0")), target=(T(talos), K(k8s)), current_schematic=OLD,
        image=image if image is not None else ImageChoice.of_extensions(THREE, "--extensions"),
        factory_url="https://factory.talos.dev", template_vmid=template, old_template_vmid=9000,
        vms=VMS, storages=("local", "local-lvm", "vmbr0"), restore_etcd=restore,
        catalog=catalog)


def test_the_template_is_named_and_built_as_the_reference_says(catalog: Catalog) -> None:
    p = make(catalog)
    t = p.template
    assert t.name == "talos-v1.12.4"
    assert t.image_url == (f"https://factory.talos.dev/image/{p.schematic}/v1.12.4/"
                           "nocloud-amd64.raw")  # not .raw.xz: PVE cannot decompress xz
    assert t.volid == f"local:import/talos-v1.12.4-{p.schematic[:8]}.raw"
    params = t.create_params(2, 4096, THREE)
    assert params["scsi0"] == f"local-lvm:0,import-from={t.volid}"  # the <st>:0 form (§2.3 A)
    assert params["cpu"] == "x86-64-v2-AES"  # not PVE's default kvm64 (§2.4)
    assert params["agent"] == 1 and "template" not in params  # never template=1 at create
    assert t.create_params(2, 4096, ("siderolabs/iscsi-tools",))["agent"] == 0
    assert p.installer == f"factory.talos.dev/installer/{p.schematic}:v1.12.4"
    assert p.describe().splitlines()[0] == (
        f"Rebuild plan: Talos v1.9.2 -> v1.12.4, Kubernetes 1.32.0 -> 1.35.0, schematic "
        f"{OLD[:12]} -> {p.schematic[:12]}")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"talos": "v1.8.3"}, "Talos v1.9.2 -> v1.8.3 goes down: a rebuild builds a newer cluster"),
    ({"k8s": "1.31.0"}, "Kubernetes 1.32.0 -> 1.31.0 goes down"),
    ({"talos": "v1.10.5", "k8s": "1.35.0"}, "Kubernetes 1.35.0 is not supported by Talos v1.10.5"),
    ({"template": 301}, "template VMID 301 is w1's: give the new template a VMID of its own"),
    ({"template": 9000}, "template VMID 9000 is the current template's"),
    ({"talos": "v1.9.2", "k8s": "1.32.0", "image": ImageChoice(OLD, None, "--schematic")},
     "the cluster already runs Talos v1.9.2 from schematic dc7b152cb3ea: a rebuild would"),
])
def test_refusals(catalog: Catalog, kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(PlanError, match=message.replace("(", r"\(")):
        make(catalog, **kwargs)


def test_a_restore_that_skips_kubernetes_minors_is_refused(catalog: Catalog) -> None:
    with pytest.raises(PlanError) as info:
        make(catalog, restore=True)
    assert str(info.value).startswith(
        "rebuild.restore_etcd: the pre-rebuild etcd snapshot cannot be recovered into this "
        "target: Kubernetes 1.32.0 -> 1.35.0: a recovered etcd holds objects the old API server "
        "stored, and kube-apiserver may not skip or go back minors")
    assert "etcd 3.5.17 (Talos v1.9.2) -> 3.6.7 (Talos v1.12.4): etcd 3.6 needs 3.5 data from " \
           "3.5.20 or later" in str(info.value)
    ok = make(catalog, talos="v1.10.5", k8s="1.33.0", restore=True)  # etcd 3.5 -> 3.5, k8s +1
    assert ok.restore_etcd


def test_default_etcd_table() -> None:
    # DefaultEtcdVersion at the tags (siderolabs/talos pkg/machinery/constants/constants.go)
    assert default_etcd(T("v1.9.2")) == (3, 5, 17)
    assert default_etcd(T("v1.9.6")) == (3, 5, 21)
    assert default_etcd(T("v1.11.0")) == (3, 6, 4)
    assert default_etcd(T("v1.12.4")) == (3, 6, 7)
    assert default_etcd(T("v1.6.0")) is None
    assert restore_refusals((T("v1.9.6"), K("1.32.0")), (T("v1.11.2"), K("1.33.0"))) == []
    assert "etcd may not skip or go back minors" in restore_refusals(
        (T("v1.12.0"), K("1.35.0")), (T("v1.10.0"), K("1.35.0")))[0]


def test_pve_version_gates() -> None:
    needs = ["download-url", "import-from", "import-raw"]
    assert pve_refusals((8, 4, 1), needs) == []  # type: ignore[arg-type]
    assert pve_refusals((8, 3, 2), needs) == [  # type: ignore[arg-type]
        "import-raw needs PVE 8.4 or newer (pve-storage 8.3.6, commit 76f695f: content 'import' "
        "for .raw); this is 8.3.2"]
    assert len(pve_refusals((7, 1), needs)) == 2  # type: ignore[arg-type]


def test_privileges_propagate_from_parent_paths() -> None:
    perms = {"/": {"Sys.Audit": 1}, "/vms": {"VM.Allocate": 1, "VM.Audit": 1, **dict.fromkeys(
                 ("VM.Config.Disk", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network",
                  "VM.Config.HWType", "VM.Config.Options", "VM.Config.Cloudinit"), 1)},
             "/storage/local": {"Datastore.AllocateTemplate": 1, "Datastore.Audit": 1},
             "/storage/local-lvm": {"Datastore.AllocateSpace": 1},
             "/nodes/pve": {"Sys.AccessNetwork": 1}, "/sdn": {"SDN.Use": 1}}
    assert has(perms, "/vms/9100", "VM.Allocate")
    assert not has(perms, "/storage/local", "Datastore.AllocateSpace")
    needs = template_needs("pve", "local", "local-lvm", "vmbr0", 9100)
    assert missing(perms, needs) == []  # Sys.AccessNetwork stands in for Sys.Modify
    del perms["/nodes/pve"]
    assert missing(perms, needs) == [
        "download-url: Sys.Modify on / (or Sys.AccessNetwork on /nodes/pve)"]


def test_the_state_record_names_nodes_members_and_flux() -> None:
    from dataclasses import replace

    from model.state_record import describe_state
    from tests.snapshot_builder import healthy_snapshot

    snap = healthy_snapshot()
    text = describe_state(snap, "cp1")
    assert "NODE         TALOS      KUBELET    INTERNAL-IP      READY    SCHEMATIC" in text
    assert "\nw1           v1.9.4     1.32.2" in text
    assert ("etcd members (as cp1 sees them):\n  a49c021e76e707db cp1 https://127.0.10.1:2380"
            in text)
    unread = replace(snap, flux=(), flux_error="the Kustomization CRD is not served")
    assert "Flux:\n  not read: the Kustomization CRD is not served" in describe_state(unread, "cp1")
