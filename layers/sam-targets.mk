# Targets `sam build` runs (BuildMethod: makefile). sam sets ARTIFACTS_DIR (the folder that
# becomes the function's code or the layer's /opt) and runs make in a scratch copy of the
# resource's CodeUri/ContentUri. LAMBDA_ARCH comes from layers/<arch>/Makefile.
LAYERS_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
# Python 3.13 (Lambda's) so the shipped bytecode matches; another version ships sources only.
# The first candidate that runs (a pyenv shim can exist for a version not selected).
LAYER_PYTHON ?= $(shell for p in python3.13 $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3 \
	python3; do if "$$p" -c "" 2>/dev/null; then echo "$$p"; break; fi; done)

.PHONY: build-DependencyLayer build-ModelLayer build-EmbeddingsFunction build-UsageReplayFunction \
	build-BatchWorkerFunction build-UsageAggregatorFunction

# /opt/python: wheels for $(LAMBDA_ARCH), stripped (layers/build_deps.py says what and why).
build-DependencyLayer:
	"$(LAYER_PYTHON)" "$(LAYERS_DIR)/build_deps.py" --arch $(LAMBDA_ARCH) \
		--requirements runtime.txt --out "$(ARTIFACTS_DIR)/python"

# /opt/model: the artifact `make model` built, checked against its manifest first.
build-ModelLayer:
	"$(LAYER_PYTHON)" "$(LAYERS_DIR)/stage.py" model --src . --out "$(ARTIFACTS_DIR)/model"

# /opt/models/<id>: each model served beside the default, one layer each (template.yaml:
# Model<Name>Layer), placed by the id in its manifest.
build-Model%Layer:
	"$(LAYER_PYTHON)" "$(LAYERS_DIR)/stage.py" model --src . --out "$(ARTIFACTS_DIR)/models" --by-id

# /var/task/handler: the service package alone (one artifact serves every function).
build-EmbeddingsFunction build-UsageReplayFunction build-BatchWorkerFunction \
		build-UsageAggregatorFunction:
	"$(LAYER_PYTHON)" "$(LAYERS_DIR)/stage.py" code --src . --out "$(ARTIFACTS_DIR)/handler"
