#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine (idempotent, quick when done):
# etcd and openssh-server (Debian packages, for the lab's real etcd members and the sshd of its
# Proxmox host), the Python virtualenv (.venv) from
# requirements.txt, and Allure Report 3 (npm, pinned by tools/allure/package-lock.json).
# Optional: WITH_BROWSER=1 also installs Debian's chromium (to render the report headless).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
  echo "setup: installing etcd (etcd-server, etcd-client)"
  apt_install etcd-server etcd-client
fi
if [ ! -x /usr/sbin/sshd ]; then
  # the lab's Proxmox host answers SSH with its own sshd (a lab-only config on a loopback
  # address); the machine's own sshd must never run: Debian's units and init script skip it
  # while /etc/ssh/sshd_not_to_be_run exists, and policy-rc.d keeps the postinst from
  # starting anything
  echo "setup: installing openssh-server (the lab's sshd; the system's stays off)"
  as_root mkdir -p /etc/ssh
  as_root touch /etc/ssh/sshd_not_to_be_run
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt_install openssh-server openssh-client
  if [ "$made_policy" = 1 ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
fi
if [ "${WITH_BROWSER:-0}" = 1 ] && ! command -v chromium >/dev/null; then
  echo "setup: installing chromium (headless report rendering)"
  apt_install chromium
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing Python packages (requirements.txt)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -r requirements.txt
  echo "$want" > "$stamp"
fi

lock=tools/allure/package-lock.json
nstamp=tools/allure/node_modules/.lock.sha256
nwant=$(sha256sum "$lock" | cut -d' ' -f1)
if [ ! -f "$nstamp" ] || [ "$(cat "$nstamp")" != "$nwant" ]; then
  echo "setup: installing Allure Report 3 (npm ci in tools/allure)"
  (cd tools/allure && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$nwant" > "$nstamp"
fi
echo "setup: ok"
