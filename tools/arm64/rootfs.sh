#!/usr/bin/env bash
# A minimal arm64 Debian under qemu-user, for running the function's embedding code on the
# Graviton ISA without an arm64 machine. Idempotent: each stage leaves a stamp and is skipped
# when its stamp is there.
#   tools/arm64/rootfs.sh ROOTFS [SUITE]     (root; SUITE defaults to trixie, Python 3.13)
# Needs root (debootstrap, chroot, binfmt_misc), Debian's mirror and PyPI.
set -euo pipefail
ROOTFS=${1:?usage: rootfs.sh ROOTFS [SUITE]}
SUITE=${2:-trixie}
MIRROR=${ARM64_MIRROR:-http://deb.debian.org/debian}
REQS=${ARM64_REQUIREMENTS:-requirements/runtime.txt}

host_tools() {
  if ! command -v qemu-aarch64-static >/dev/null || ! command -v debootstrap >/dev/null \
     || ! command -v update-binfmts >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static binfmt-support debootstrap
  fi
  # chroot runs arm64 ELF files through the kernel's binfmt_misc handler for qemu.
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
}

in_root() {  # a clean environment: the host's pip settings (find-links, extra indexes) stay out
  env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    QEMU_CPU="${QEMU_CPU:-max}" chroot "$ROOTFS" "$@"
}

host_tools
mkdir -p "$ROOTFS"
if [ ! -e "$ROOTFS/.stage1" ]; then
  debootstrap --arch=arm64 --foreign --variant=minbase \
    --include=python3,python3-venv,ca-certificates "$SUITE" "$ROOTFS" "$MIRROR"
  touch "$ROOTFS/.stage1"
fi
if [ ! -e "$ROOTFS/.stage2" ]; then
  in_root /debootstrap/debootstrap --second-stage
  touch "$ROOTFS/.stage2"
fi
# The host's CA bundle, in case PyPI is reached through a TLS-inspecting proxy.
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/host-ca-certificates.crt"
if [ ! -e "$ROOTFS/opt/venv/.installed" ] || [ "$REQS" -nt "$ROOTFS/opt/venv/.installed" ]; then
  in_root python3 -m venv /opt/venv
  # Only what handler.embedder imports, at the versions the function ships.
  grep -E '^(onnxruntime|numpy|tokenizers)\b' "$REQS" > "$ROOTFS/opt/requirements.txt"
  in_root /opt/venv/bin/python -m pip install -q --disable-pip-version-check \
    --cert /etc/ssl/certs/host-ca-certificates.crt --only-binary=:all: -r /opt/requirements.txt
  touch "$ROOTFS/opt/venv/.installed"
fi
in_root /opt/venv/bin/python -c 'import sys, platform, onnxruntime, numpy, tokenizers; print(platform.machine(), sys.version.split()[0], "onnxruntime", onnxruntime.__version__, "numpy", numpy.__version__, "tokenizers", tokenizers.__version__)'
