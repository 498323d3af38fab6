"""`python -m emulator up|down|status|fault|serve`: the lab's command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from emulator.errors import LabError


def _status_table(status: dict) -> str:
    rows = [["NODE", "ADDRESS", "ROLE", "TALOS", "SLOTS (A/B, *active)", "BOOTS", "UPGRADES",
             "K8S", "KUBELET"]]
    for n in status["nodes"]:
        slots = "/".join(
            ("*" if n["active_slot"] == k else "") + (s["version"] if s else "-")
            for k, s in sorted(n["slots"].items()))
        k8s = n["kubernetes"]
        state = ("Ready" if k8s["ready"] == "True" else f"NotReady({k8s['ready']})")
        if k8s["cordoned"]:
            state += ",cordoned"
        rows.append([n["name"] + ("*" if n.get("primary") else ""), n["address"], n["role"],
                     n["talos_version"], slots, str(n["boot_count"]), str(n["upgrade_count"]),
                     state, k8s["kubelet_version"]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = ["   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    out.append("")
    out.append("etcd members:")
    for m in status["etcd"]["members"]:
        out.append(f"  {m['id']}  {m['name'] or '(unstarted)'}  {','.join(m['peer_urls'])}"
                   f"{'  learner' if m['learner'] else ''}")
    if status["etcd"].get("error"):
        out.append(f"  error: {status['etcd']['error']}")
    out.append(f"kubernetes API {status['kubernetes']['api']} "
               f"(v{status['kubernetes']['version']}, "
               f"{'up' if status['kubernetes']['available'] else 'DOWN'})")
    faults = status["faults"]
    out.append("faults: " + (", ".join(
        f"{f['kind']}{'@' + f['node'] if f['node'] else ''}{' (fired)' if f['fired'] else ''}"
        for f in faults) if faults else "none"))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator",
                                     description="The lab: an emulated Talos cluster on loopback.")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a lab in the background; return when it is ready")
    up.add_argument("--dir", required=True, type=Path)
    up.add_argument("--profile", type=Path, default=None)
    up.add_argument("--faults", type=Path, default=None)
    up.add_argument("--extra-workers", type=int, default=None,
                    help="add N generated workers (scale tests)")
    up.add_argument("--timeout", type=float, default=120.0)
    down = sub.add_parser("down", help="stop everything the lab started")
    down.add_argument("--dir", required=True, type=Path)
    st = sub.add_parser("status", help="per-node state, etcd members, faults")
    st.add_argument("--dir", required=True, type=Path)
    st.add_argument("--json", action="store_true")
    fault = sub.add_parser("fault", help="inject a fault into a running lab")
    fault.add_argument("--dir", required=True, type=Path)
    fault.add_argument("kind")
    fault.add_argument("--node")
    for p in ("extension", "seconds", "namespace", "name", "vmid", "message"):
        fault.add_argument(f"--{p}")
    serve = sub.add_parser("serve", help=argparse.SUPPRESS)
    serve.add_argument("--dir", required=True, type=Path)
    serve.add_argument("--profile", type=Path, required=True)
    serve.add_argument("--faults", type=Path, default=None)
    serve.add_argument("--extra-workers", type=int, default=None)
    args = parser.parse_args(argv)

    from emulator.api import Lab, stop_dir

    try:
        if args.command == "serve":
            from emulator.server import serve as run_server
            from emulator.spec import load_spec

            spec = load_spec(args.profile, extra_workers=args.extra_workers)
            return asyncio.run(run_server(spec, args.dir.resolve(), args.faults))
        if args.command == "up":
            lab = Lab.start(args.dir, args.profile, args.faults, extra_workers=args.extra_workers,
                            timeout=args.timeout)
            st = lab.state
            print(f"lab ready in {lab.dir}")
            print(f"  kubernetes: {st['kubernetes']}   factory: {st['factory']}   "
                  f"proxmox: {st['proxmox']}   change desk: {st['change']}")
            print(f"  use it:     source {lab.dir / 'env'}")
            print(f"  harness:    pytest runbooks/health --cluster={lab.profile}")
            return 0
        if args.command == "down":
            was = stop_dir(args.dir.resolve())
            print("lab stopped" if was else f"no lab was running in {args.dir}")
            return 0
        if args.command == "status":
            status = Lab.attach(args.dir).status()
            print(json.dumps(status, indent=2, sort_keys=True) if args.json
                  else _status_table(status))
            return 0
        if args.command == "fault":
            params = {k: getattr(args, k) for k in ("extension", "seconds", "namespace", "name",
                                                    "vmid", "message")
                      if getattr(args, k) is not None}
            result = Lab.attach(args.dir).fault(args.kind, args.node, **params)
            f = result["fault"]
            print(f"fault {f['kind']} injected" + (f" on {f['node']}" if f["node"] else ""))
            return 0
    except LabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
