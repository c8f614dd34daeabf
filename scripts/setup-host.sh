#!/usr/bin/env bash
# Installs and starts everything migrate and its tests need on a fresh Debian 12 machine.
# Idempotent: safe to run again. Needs root (or sudo).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  # libguestfs (reference backend) and its Python binding (built for Debian's python3)
  libguestfs-tools python3-guestfs linux-image-amd64
  # image formats, partitions and filesystems for building and reading guests
  qemu-utils qemu-system-x86 debootstrap lvm2 xfsprogs btrfs-progs e2fsprogs dosfstools fdisk gdisk cryptsetup-bin
  # package-closure tests: a real rpm database made by rpmbuild + rpm --root (Debian's rpm 4.18)
  rpm
  # conformance: libguestfs's phony guests are built with guestfish/Sys::Guestfs, sqlite3, hivexregedit, gcc
  libguestfs-perl sqlite3 libhivex-bin libwin-hivex-perl python3-hivex xz-utils gcc libc6-dev mdadm ntfs-3g
  # Docker engine (Debian's daemon) and what it needs
  docker.io iptables
  # benchmarks and reports
  sysbench busybox-static runc chromium graphviz poppler-utils
  # migrate push is tested against a real local registry (Debian's, run by the test on a free loopback port)
  docker-registry
  # the "VM way" arm of the OLTP benchmark runs the VM's PostgreSQL data on the host's own server
  postgresql-15 postgresql-client-15
  # the project's Python environment
  python3-venv python3-pip
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup-host: installing ${missing[*]}"
  $SUDO apt-get update -q
  # No daemon may start from a package's postinst (a host PostgreSQL on 5432, say): the tests start
  # what they need themselves. policy-rc.d is removed again unless it was there before.
  policy_added=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 0755 /usr/sbin/policy-rc.d
    policy_added=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" || status=$?
  if [ -n "$policy_added" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
  [ "${status:-0}" -eq 0 ] || { echo "setup-host: apt-get install failed" >&2; exit 1; }
fi

# Docker daemon: there is no systemd here, so start dockerd in the background and wait for its socket.
if ! docker info >/dev/null 2>&1; then
  echo "setup-host: starting dockerd"
  $SUDO bash -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "setup-host: dockerd did not start; see /var/log/dockerd.log" >&2; exit 1; }
fi

# Swarm mode for `docker stack deploy` / `docker stack config`.
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)" != "active" ]; then
  echo "setup-host: initialising a single-node swarm"
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
fi
echo "setup-host: ready"
