# The verbs a newcomer looks for: setup, serve, test, model, build, bench, lint.
# Each concern keeps its own rules in a fragment included below.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY313 ?= $(shell pyenv root 2>/dev/null)/versions/3.13.0/bin/python3
VENV := .venv
PY := $(VENV)/bin/python
MODEL_DIR ?= build/model
export MODEL_DIR

.PHONY: help venv setup serve test test-unit lint
help:
	@echo "make serve      set everything up (venv, model, local DynamoDB) and serve http://127.0.0.1:8000"
	@echo "make test       run every test tier (what CI runs)"
	@echo "make test-unit  the everyday loop: unit and functional tiers, no SAM or Java (< 1 min)"
	@echo "make lint       ruff format --check, ruff check and mypy"
	@echo "make model   build the int8 ONNX artifact into $(MODEL_DIR)"
	@echo "make models  that, and every model served beside it (build/models: docs/models.md)"
	@echo "make bench   run the benchmarks"
	@echo "make docs    build the documentation site into build/site (make docs-check: in a browser)"

$(VENV)/.installed: requirements/runtime.txt requirements/dev.txt
	test -x $(VENV)/bin/python || $(PY313) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/dev.txt
	touch $@
venv: $(VENV)/.installed

setup: venv models

# DynamoDB Local (Java 17; installed into build/ on first use) with the tables and the dev key
# sk-local-dev, then uvicorn. Without Java: a loud warning and moto's in-process DynamoDB.
serve: setup
	$(PY) -m tools.serve_local --host 127.0.0.1 --port 8000

test: setup
	$(PY) -m pytest

# The quick loop: no SAM build, no tool venvs, no DynamoDB Local (Java); tests/deploy needs
# them all. It needs the model artifacts, built (with torch) only if there are none yet.
test-unit: venv
	@test -f $(MODEL_DIR)/manifest.json || $(MAKE) --no-print-directory model
	@test -f build/models/all-MiniLM-L6-v2-fp32/manifest.json || $(MAKE) --no-print-directory models
	$(PY) -m pytest -q -m "unit or functional" --ignore=tests/deploy

LINTED := handler model_artifacts tools layers bench
lint: venv
	$(VENV)/bin/ruff format --check $(LINTED) tests
	$(VENV)/bin/ruff check $(LINTED) tests
	$(VENV)/bin/mypy --explicit-package-bases $(LINTED)

# For the fragments: a Python 3.13 venv at $(1) with requirements file $(2), reinstalled when
# that file changes. Use: $(eval $(call tool_venv,build/x-venv,path/requirements.txt))
define tool_venv
$(1)/.installed: $(2)
	test -x $(1)/bin/python || $$(PY313) -m venv $(1)
	$(1)/bin/python -m pip install -q --disable-pip-version-check -r $(2)
	touch $$@
endef

-include model_artifacts/model.mk
-include layers/layers.mk
-include bench/bench.mk
-include tools/arm64/arm64.mk
-include tools/docs/docs.mk
