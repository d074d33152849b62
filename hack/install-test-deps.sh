#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: the tools the
# node tests run for real (losetup, mount, mkfs.ext4/xfs, blkid, resize2fs,
# xfs_growfs), the OpenSSH client the emulator test drives, and what
# test/images needs to build the images without Docker (mmdebstrap, umoci)
# and run them (crun by default, runc on request: test/images/runtime_test.go). Idempotent:
# does nothing when everything is present. Needs root for apt-get.
set -euo pipefail

need=()
command -v losetup    >/dev/null || need+=(mount)
command -v mount      >/dev/null || need+=(mount)
command -v blkid      >/dev/null || need+=(util-linux)
command -v mkfs.ext4  >/dev/null || need+=(e2fsprogs)
command -v resize2fs  >/dev/null || need+=(e2fsprogs)
command -v mkfs.xfs   >/dev/null || need+=(xfsprogs)
command -v xfs_growfs >/dev/null || need+=(xfsprogs)
command -v ssh        >/dev/null || need+=(openssh-client)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v umoci      >/dev/null || need+=(umoci)
command -v runc       >/dev/null || need+=(runc)
command -v crun       >/dev/null || need+=(crun)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
mapfile -t pkgs < <(printf '%s\n' "${need[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages: ${pkgs[*]} (run as root, or: sudo apt-get install -y ${pkgs[*]})" >&2
  exit 1
fi
echo "installing: ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
