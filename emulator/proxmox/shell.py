"""`qm` and `pvesm` on the lab's emulated Proxmox VE host (reached over the lab's SSH host).

The shims `<lab>/pve-bin/qm` and `<lab>/pve-bin/pvesm` send their argv to the lab's control API
(POST /pve-shell); `run` answers it against the same ProxmoxModel the PVE API serves, as
`root@pam` (an SSH login to a PVE host is root). Texts follow qemu-server e6352be
`src/PVE/CLI/qm.pm` (importdisk, config, set -> API2/Qemu.pm update_vm_api),
`src/PVE/QemuServer/ImportDisk.pm` and `QemuImage.pm convert`, pve-storage 0c56bad
`src/PVE/CLI/pvesm.pm` (status, path) and pve-common f665029 `Format.pm render_bytes`,
`CLIHandler.pm`. A failing command prints its error on stderr and exits 255 (Perl's `die`).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

from emulator.proxmox.errors import NotEmulated, PveError
from emulator.proxmox.models import ProxmoxModel, format_size, parse_vmid

ROOT = "root@pam"
# qemu-server 60d7d9c7 (8.2.7, PVE 8.3): "<drive>: successfully imported disk '<value>'";
# before: "Successfully imported disk as '<drive>:<volid>'" (c75bf161)
IMPORTDISK_TEXT_SINCE = (8, 3)
_DRIVE = re.compile(
    r"^(?:ide[0-3]|sata[0-5]|scsi(?:[0-9]|[12][0-9]|30)|virtio(?:[0-9]|1[0-5])|"
    r"efidisk0|tpmstate0)$"
)
_USAGE = {
    ("qm", "config"): "qm config <vmid> [OPTIONS]",
    ("qm", "set"): "qm set <vmid> [OPTIONS]",
    ("qm", "importdisk"): "qm importdisk <vmid> <source> <storage> [OPTIONS]",
    ("pvesm", "status"): "pvesm status  [OPTIONS]",
    ("pvesm", "path"): "pvesm path <volume>",
}


@dataclass
class Result:
    """What the command printed and its exit code."""

    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    code: int = 0

    def out(self, line: str) -> None:
        self.stdout.append(line + "\n")

    def err(self, line: str) -> None:
        self.stderr.append(line + "\n")

    def as_dict(self) -> dict[str, object]:
        return {"stdout": "".join(self.stdout), "stderr": "".join(self.stderr), "code": self.code}


class _Usage(Exception):
    """A CLI parameter error: `400 <msg>` and the usage line (CLIHandler), exit 255."""


def _parse(args: list[str], positional: list[str], cmd: tuple[str, str]) -> dict[str, str]:
    """Getopt-style: `--key value`, `-key value`, `--key=value`; the rest fill `positional`."""
    params: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and len(arg) > 1 and not re.fullmatch(r"-\d+", arg):
            key, sep, value = arg.lstrip("-").partition("=")
            if not sep:
                if i + 1 >= len(args):
                    raise _Usage(f"Option {key} requires an argument", cmd)
                i += 1
                value = args[i]
            params[key] = value
        else:
            rest.append(arg)
        i += 1
    if len(rest) < len(positional):
        raise _Usage("not enough arguments", cmd)
    if len(rest) > len(positional):
        raise _Usage("too many arguments", cmd)
    params.update(zip(positional, rest, strict=True))
    return params


def render_bytes(value: float, precision: int = 2) -> str:
    """pve-common Format.pm render_bytes."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    unit = 0
    if value > 1023:
        unit = int(math.log(value) / math.log(1024))
        value /= 1024**unit
    return f"{value:.{precision}f} {units[unit]}"


def run(model: ProxmoxModel, argv: list[str], cwd: str = "/") -> Result:
    """Run `qm ...` or `pvesm ...` against the model; never raises for a command's failure."""
    res = Result()
    if not argv:
        res.err("not emulated: (no command)")
        res.code = 1
        return res
    prog, args = os.path.basename(argv[0]), list(argv[1:])
    sub = args[0] if args else ""
    if prog == "qm" and sub == "disk" and args[1:2] == ["import"]:
        args, sub = ["importdisk", *args[2:]], "importdisk"
    handler = _COMMANDS.get((prog, sub))
    if handler is None:
        res.err(f"not emulated: {' '.join([prog, *args])}")
        res.code = 1
        return res
    try:
        handler(model, args[1:], res, cwd)
    except _Usage as e:
        message, cmd = e.args
        res.err(f"400 {message}")
        res.err(_USAGE[cmd])
        res.code = 255
    except NotEmulated as e:
        res.err(e.message)
        res.code = 1
    except PveError as e:
        msg = e.message if e.message.endswith("\n") else e.message + "\n"
        if e.errors:  # PVE::Exception stringified: the message, then one line per field
            msg = msg.rstrip("\n") + "\n" + "".join(f"{k}: {v}\n" for k, v in e.errors.items())
            msg = f"{e.status} {msg}"
        res.stderr.append(msg)
        res.code = 255
    return res


def _qm_config(model: ProxmoxModel, args: list[str], res: Result, cwd: str) -> None:
    p = _parse(args, ["vmid"], ("qm", "config"))
    unknown = set(p) - {"vmid", "current", "snapshot"}
    if unknown:
        raise _Usage(f"Unknown option: {sorted(unknown)[0]}", ("qm", "config"))
    vmid = parse_vmid(p["vmid"])
    vm = model.vm(vmid)
    cfg = model.config(vm.node, vmid)
    for key in sorted(cfg):  # qm.pm config: sorted, digest left out
        if key != "digest":
            res.out(f"{key}: {cfg[key]}")


def _qm_set(model: ProxmoxModel, args: list[str], res: Result, cwd: str) -> None:
    p = _parse(args, ["vmid"], ("qm", "set"))
    vmid = parse_vmid(p.pop("vmid"))
    p.pop("node", None)
    vm = model.vm(vmid)
    if not p:
        raise PveError("no options specified")
    # the log line: every parameter but vmid/node/digest/background_delay, sorted
    shown = {
        k: ("<hidden>" if k == "cipassword" else v)
        for k, v in p.items()
        if k not in ("digest", "background_delay")
    }
    res.out(f"update VM {vmid}: " + " ".join(f"-{k} {shown[k]}" for k in sorted(shown)))
    values = dict(p)
    created: list[Any] = []
    for key in sorted(k for k in p if _DRIVE.match(k)):
        file, _, opts = p[key].partition(",")
        log: list[str] = []
        if (
            re.fullmatch(r"[^:]+:cloudinit|(?:[^/:\s]+:)?\d+(?:\.\d+)?", file)
            and "media=cdrom" not in opts
        ):
            # update_vm_api -> create_disks: a new disk (or cloud-init drive) is allocated
            values[key] = model._create_disk(vmid, key, p[key], None, ROOT, log, created)
        else:
            size = _volume(model, file)
            if size is not None and "media=cdrom" not in opts:
                # create_disks: an existing volume is attached with its size
                parts = [x for x in opts.split(",") if x and not x.startswith("size=")]
                values[key] = ",".join([file, *sorted([*parts, f"size={format_size(size)}"])])
            elif re.fullmatch(r"[a-z][a-z0-9\-_.]*:(?:vm|base)-\d+-disk-\d+(?:\.\w+)?", file):
                raise PveError(f"volume {file} does not exist")
        for line in log:
            res.out(line)
        old = vm.config.get(key)
        old_file = str(old).split(",", 1)[0] if old is not None else ""
        if (
            old_file
            and old_file != file
            and _volume(model, old_file) is not None
            and "media=cdrom" not in str(old)
        ):
            # vmconfig_register_unused_drive: the replaced disk stays as unusedN
            n = next(i for i in range(256) if f"unused{i}" not in vm.config)
            vm.config[f"unused{n}"] = old_file
    model.set_config(vm.node, vmid, values, ROOT, sync=True)


def _volume(model: ProxmoxModel, volid: str) -> int | None:
    sid = volid.split(":", 1)[0] if ":" in volid else ""
    st = model.storages.get(sid)
    vol = st.volumes.get(volid) if st is not None else None
    return vol.size if vol is not None else None


def _qm_importdisk(model: ProxmoxModel, args: list[str], res: Result, cwd: str) -> None:
    p = _parse(args, ["vmid", "source", "storage"], ("qm", "importdisk"))
    unknown = set(p) - {"vmid", "source", "storage", "format", "target-disk"}
    if unknown:
        raise _Usage(f"Unknown option: {sorted(unknown)[0]}", ("qm", "importdisk"))
    if "format" in p and p["format"] not in ("raw", "qcow2", "vmdk"):
        raise PveError(
            "Parameter verification failed.",
            {
                "format": f"value '{p['format']}' does not have a value in the enumeration "
                "'raw, qcow2, vmdk'"
            },
            status=400,
        )
    if "target-disk" in p:
        raise NotEmulated("not emulated: qm importdisk --target-disk")
    vmid = parse_vmid(p["vmid"])
    source = p["source"] if os.path.isabs(p["source"]) else os.path.join(cwd, p["source"])
    # the checks before the first line: VM, lock, file, storage (qm.pm importdisk)
    vm = model.vm(vmid)
    if vm.lock:
        raise PveError(f"VM is locked ({vm.lock})")  # AbstractConfig check_lock
    if not os.path.isfile(source):
        raise PveError(f"{p['source']}: non-existent or non-regular file")
    st = model.storages.get(p["storage"])
    if st is None:
        raise PveError(f"storage '{p['storage']}' does not exist")
    if not st.enabled:
        raise PveError(f"storage '{p['storage']}' is disabled")
    if "images" not in model.storage_content_types(p["storage"]):
        raise PveError(f"storage {p['storage']} does not support vm images")
    res.out(f"importing disk '{p['source']}' to VM {vmid} ...")
    drive, volid, size, warnings = model.import_disk(vmid, source, p["storage"], p.get("format"))
    for w in warnings:
        res.err(w)
    total = render_bytes(size, 1)
    # QemuImage.pm convert: one line per `qemu-img convert -p` progress report (first, last)
    res.out(f"transferred {render_bytes(0, 1)} of {total} (0.00%)")
    res.out(f"transferred {render_bytes(size, 1)} of {total} (100.00%)")
    if model.release_tuple >= IMPORTDISK_TEXT_SINCE:
        res.out(f"{drive}: successfully imported disk '{volid}'")
    else:
        res.out(f"Successfully imported disk as '{drive}:{volid}'")


def _pvesm_status(model: ProxmoxModel, args: list[str], res: Result, cwd: str) -> None:
    p = _parse(args, [], ("pvesm", "status"))
    unknown = set(p) - {"storage", "content", "enabled", "target", "format"}
    if unknown:
        raise _Usage(f"Unknown option: {sorted(unknown)[0]}", ("pvesm", "status"))
    p.pop("target", None)
    p.pop("format", None)
    rows = model.storage_index(model.default_node, ROOT, p)
    width = max((len(r["storage"]) for r in rows), default=0) + 1
    res.out(
        f"{'Name':<{width}} {'Type':>10} {'Status':>10} {'Total (KiB)':>15} "
        f"{'Used (KiB)':>15} {'Available (KiB)':>15} {'%':>8}"
    )
    for r in sorted(rows, key=lambda r: r["storage"]):
        active = "active" if r["active"] else "inactive"
        if r["enabled"]:
            per = (r["used"] * 100 / r["total"]) if r["total"] > 0 else 0
            pct = f"{per: 7.2f}%"  # Perl's '% 7.2f%%'
        else:
            active, pct = "disabled", f"{'N/A':>8}"
        res.out(
            f"{r['storage']:<{width}} {r['type']:>10} {active:>10} "
            f"{int(r['total'] / 1024):>15d} {int(r['used'] / 1024):>15d} "
            f"{int(r['avail'] / 1024):>15d} {pct}"
        )


def _pvesm_path(model: ProxmoxModel, args: list[str], res: Result, cwd: str) -> None:
    p = _parse(args, ["volume"], ("pvesm", "path"))
    if set(p) != {"volume"}:
        raise _Usage(f"Unknown option: {sorted(set(p) - {'volume'})[0]}", ("pvesm", "path"))
    volid = p["volume"]
    if not re.fullmatch(r"[a-z][a-z0-9\-_.]*[a-z0-9]:.+", volid, re.I):
        raise PveError(
            "Parameter verification failed.",
            {"volume": f"invalid format - unable to parse volume ID '{volid}'"},
            status=400,
        )
    res.out(model.volume_path(volid))


_COMMANDS = {
    ("qm", "config"): _qm_config,
    ("qm", "set"): _qm_set,
    ("qm", "importdisk"): _qm_importdisk,
    ("pvesm", "status"): _pvesm_status,
    ("pvesm", "path"): _pvesm_path,
}
