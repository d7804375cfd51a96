#!/usr/bin/env bash
# Run tools.arm64.check inside the arm64 rootfs under qemu-user with one emulated CPU model.
#   tools/arm64/in_rootfs.sh ROOTFS CPU MODEL_DIR REFERENCE_NPZ OUT_JSON [ARRANGEMENTS]
# CPU is a qemu -cpu name: neoverse-n1 (Graviton2: dot product), cortex-a72 (Graviton1: no dot
# product), max (everything qemu implements, i8mm and SVE included). The repo's Python code and
# the artifact are copied in fresh each run; the JSON and the vectors (.npy) are copied out.
set -euo pipefail
ROOTFS=$(realpath "${1:?usage: in_rootfs.sh ROOTFS CPU MODEL_DIR REFERENCE_NPZ OUT_JSON [ARRANGEMENTS]}")
CPU=$2 MODEL=$3 REFERENCE=$4 OUT=$5 ARRANGEMENTS=${6:-2}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$ROOTFS/srv/check-$CPU  # one per CPU, so runs can go side by side

rm -rf "$WORK" && mkdir -p "$WORK/repo/tools/arm64" "$WORK/model" "$WORK/out"
cp -r "$REPO/handler" "$WORK/repo/"
mkdir -p "$WORK/repo/model_artifacts" && cp "$REPO"/model_artifacts/*.py "$WORK/repo/model_artifacts/"
cp "$REPO"/tools/arm64/*.py "$WORK/repo/tools/arm64/"
cp -L "$MODEL"/* "$WORK/model/" 2>/dev/null || true  # files only (the manifest lists them)
cp "$REFERENCE" "$WORK/reference.npz"

# No /proc or /sys in the chroot, on purpose: qemu 7.2 shows the host's x86 /proc/cpuinfo, and
# onnxruntime's cpuinfo then crashes (SIGSEGV). Without them cpuinfo's init fails and
# onnxruntime reads the CPU's features from getauxval(AT_HWCAP/AT_HWCAP2), which qemu sets from
# -cpu; the qemu log below shows which int8 instructions actually ran.
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 QEMU_CPU="$CPU" PYTHONDONTWRITEBYTECODE=1 \
  chroot "$ROOTFS" /bin/sh -c "cd /srv/check-$CPU/repo && exec /opt/venv/bin/python -m tools.arm64.check \
    --model /srv/check-$CPU/model --reference /srv/check-$CPU/reference.npz \
    --out /srv/check-$CPU/out/run.json --arrangements $ARRANGEMENTS"
# Which int8 kernels MLAS picked for this CPU: one small embed with qemu's translation log.
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 QEMU_CPU="$CPU" PYTHONDONTWRITEBYTECODE=1 \
  QEMU_LOG=in_asm QEMU_LOG_FILENAME=/srv/check-$CPU/out/qemu.log \
  chroot "$ROOTFS" /bin/sh -c "cd /srv/check-$CPU/repo && exec /opt/venv/bin/python -c '
from handler.embedder import load_embedder
load_embedder(\"/srv/check-$CPU/model\", threads=1, batch_size=8).embed([\"a short text\", \"a longer text, to embed with its batch-mates\"] * 4)'"
mkdir -p "$(dirname "$OUT")"
(cd "$REPO" && python3 -m tools.arm64.insns "$WORK/out/qemu.log") > "${OUT%.json}.insns.json"
rm -f "$WORK/out/qemu.log"
cp "$WORK/out/run.json" "$OUT"
cp "$WORK/out/run.npy" "${OUT%.json}.npy"
