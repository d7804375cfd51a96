#!/usr/bin/env bash
# A minimal arm64 Debian under qemu-user, for running the function's embedding code on the
# Graviton ISA without an arm64 machine. Idempotent: each stage leaves a stamp and is skipped
# when its stamp is there.
#   tools/arm64/rootfs.sh ROOTFS [SUITE]     (root; SUITE defaults to trixie, Python 3.13)
# Needs root (chroot, binfmt_misc), Debian's mirror and PyPI. mmdebstrap, not debootstrap: it
# resolves and unpacks with the host's apt and dpkg and emulates only the maintainer scripts;
# debootstrap's second stage under qemu spent ~6 min per pass of its Perl over the 56 MB
# Packages file (several passes) on this machine.
set -euo pipefail
ROOTFS=${1:?usage: rootfs.sh ROOTFS [SUITE]}
SUITE=${2:-trixie}
HOST_PYTHON=${HOST_PYTHON:-.venv/bin/python}  # any Python with pip, for `pip download`
MIRROR=${ARM64_MIRROR:-http://deb.debian.org/debian}
# pip requirement lines for the venv; arm64.mk passes the exact versions the x86 venv has (the
# ones the built layers ship), so both sides run the same onnxruntime, numpy and tokenizers.
PINS=${ARM64_PINS:-$(grep -E '^(onnxruntime|numpy|tokenizers)\b' requirements/runtime.txt)}

host_tools() {
  if ! command -v qemu-aarch64-static >/dev/null \
     || ! command -v update-binfmts >/dev/null || ! command -v mmdebstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static binfmt-support mmdebstrap
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
if [ ! -e "$ROOTFS/.rootfs" ]; then
  rm -rf "$ROOTFS"  # a half-made one from an interrupted run
  mkdir -p "$(dirname "$ROOTFS")"
  mmdebstrap --mode=root --arch=arm64 --variant=minbase \
    --include=python3,python3-venv,ca-certificates "$SUITE" "$ROOTFS" "$MIRROR"
  touch "$ROOTFS/.rootfs"
fi
if [ "$(cat "$ROOTFS/opt/venv/.installed" 2>/dev/null)" != "$PINS" ]; then
  # The host's pip fetches the aarch64 wheels (fast, and no network from the emulated side);
  # --no-deps as in layers/build_deps.py: the function's layer ships these three alone.
  rm -rf "$ROOTFS/opt/wheels"
  echo "$PINS" > "$ROOTFS/opt/requirements.txt"
  "$HOST_PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.13 \
    --implementation cp --abi cp313 --platform manylinux_2_28_aarch64 \
    --platform manylinux2014_aarch64 -d "$ROOTFS/opt/wheels" -r "$ROOTFS/opt/requirements.txt"
  in_root python3 -m venv /opt/venv
  in_root sh -c '/opt/venv/bin/python -m pip install -q --disable-pip-version-check --no-index \
    --no-deps /opt/wheels/*.whl'
  echo "$PINS" > "$ROOTFS/opt/venv/.installed"
fi
in_root /opt/venv/bin/python -c 'import sys, platform, onnxruntime, numpy, tokenizers; print(platform.machine(), sys.version.split()[0], "onnxruntime", onnxruntime.__version__, "numpy", numpy.__version__, "tokenizers", tokenizers.__version__)'
