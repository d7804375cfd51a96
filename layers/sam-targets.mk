# Targets `sam build` runs (BuildMethod: makefile). sam sets ARTIFACTS_DIR (the folder that
# becomes the function's code or the layer's /opt) and runs make in a scratch copy of the
# resource's CodeUri/ContentUri. LAMBDA_ARCH comes from layers/<arch>/Makefile.
LAYERS_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
# Python 3.13 (Lambda's) so the shipped bytecode matches; another version ships sources only.
LAYER_PYTHON ?= $(shell command -v python3.13 || command -v python3)

.PHONY: build-DependencyLayer build-ModelLayer build-EmbeddingsFunction build-UsageReplayFunction

# /opt/python: wheels for $(LAMBDA_ARCH), stripped (layers/build_deps.py says what and why).
build-DependencyLayer:
	"$(LAYER_PYTHON)" "$(LAYERS_DIR)/build_deps.py" --arch $(LAMBDA_ARCH) \
		--requirements runtime.txt --out "$(ARTIFACTS_DIR)/python"

# /opt/model: the artifact `make model` built, checked against its manifest first.
build-ModelLayer:
	"$(LAYER_PYTHON)" "$(LAYERS_DIR)/stage.py" model --src . --out "$(ARTIFACTS_DIR)/model"

# /var/task/handler: the service package alone (one artifact serves both functions).
build-EmbeddingsFunction build-UsageReplayFunction:
	"$(LAYER_PYTHON)" "$(LAYERS_DIR)/stage.py" code --src . --out "$(ARTIFACTS_DIR)/handler"
