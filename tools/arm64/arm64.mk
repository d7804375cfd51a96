# `make arm64-check`: the artifact's batch invariance and fidelity on arm64 (Graviton's ISA),
# emulated with qemu-user in a Debian arm64 rootfs (tools/arm64/). Slow (tens of minutes on
# 2 shared cores), needs root, Debian's mirror and PyPI; not part of `make test`.
#   make arm64-check                                  build/model, CPUs below, 2 batchings each
#   make arm64-check ARM64_MODEL=build/other ARM64_OUT=build/arm64/other
#   make arm64-check ARM64_CPUS=neoverse-n1 ARM64_ARRANGEMENTS=1
# Results: $(ARM64_OUT)/arm64-check.json (+ one JSON and .npy per run); exit 1 if a gate fails.
ARM64_ROOTFS ?= build/arm64/rootfs
ARM64_SUITE ?= trixie
ARM64_MODEL ?= $(MODEL_DIR)
ARM64_OUT ?= build/arm64/results
# neoverse-n1 = Graviton2 (dot product); cortex-a72 = no dot product; max = i8mm and SVE too.
ARM64_CPUS ?= neoverse-n1 cortex-a72 max
ARM64_ARRANGEMENTS ?= 2

.PHONY: arm64-rootfs arm64-check
# The venv in the rootfs gets the exact onnxruntime, numpy and tokenizers of the x86 venv.
arm64-rootfs: venv
	ARM64_PINS="$$($(PY) -c 'from importlib.metadata import version as v; \
		print(*(f"{p}=={v(p)}" for p in ("onnxruntime", "numpy", "tokenizers")), sep="\n")')" \
		tools/arm64/rootfs.sh $(ARM64_ROOTFS) $(ARM64_SUITE)

arm64-check: export-venv arm64-rootfs
	@test -f $(ARM64_MODEL)/manifest.json || $(MAKE) --no-print-directory model
	$(EXPORT_PY) -m tools.arm64.reference --model $(ARM64_MODEL) --out $(ARM64_OUT)/reference.npz
	$(PY) -m tools.arm64.check --model $(ARM64_MODEL) --reference $(ARM64_OUT)/reference.npz \
		--out $(ARM64_OUT)/x86_64.json --arrangements $(ARM64_ARRANGEMENTS) >/dev/null
	for cpu in $(ARM64_CPUS); do \
		nice tools/arm64/in_rootfs.sh $(ARM64_ROOTFS) $$cpu $(ARM64_MODEL) \
			$(ARM64_OUT)/reference.npz $(ARM64_OUT)/arm64-$$cpu.json $(ARM64_ARRANGEMENTS) >/dev/null \
			|| exit 1; \
	done
	$(PY) -m tools.arm64.compare $(ARM64_OUT) --runs x86_64 $(addprefix arm64-,$(ARM64_CPUS))
