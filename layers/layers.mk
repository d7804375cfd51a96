# Deployment: build the stack without Docker, validate it, and the tools for both (layers/).
#   make build                 sam build for arm64 into .aws-sam/build (what `sam deploy` takes)
#   make build ARCH=x86_64     the same for x86_64
#   make validate              sam validate --lint, cfn-lint and checkov on template.yaml
#   make deploy-prereqs        what tests/deploy needs: the tool venvs and a stamped sam build
#                              per architecture under build/sam/<arch>/ (rebuilt only when
#                              the template, layers/, runtime.txt, handler/ or the model change)
# Tools live in their own venvs, never in the function: build/tools-venv (aws-sam-cli, cfn-lint,
# the Runtime Interface Emulator inside the sam wheel), build/checkov-venv (its pins clash with
# sam's), build/lambda-runtime (awslambdaric + boto3, standing in for Lambda's python3.13 image).
ARCH ?= arm64
TOOLS_VENV := build/tools-venv
CHECKOV_VENV := build/checkov-venv
LAMBDA_RUNTIME := build/lambda-runtime
SAM := $(TOOLS_VENV)/bin/sam
# LAYER_PYTHON: the interpreter sam-targets.mk installs wheels and compiles bytecode with.
SAM_ENV := SAM_CLI_TELEMETRY=0 LAYER_PYTHON=$(PY313)
SAM_INPUTS := template.yaml requirements/runtime.txt $(wildcard layers/*.py layers/*.mk \
	layers/*/Makefile) $(shell find handler -name '*.py' 2>/dev/null) \
	$(wildcard build/model/manifest.json build/models/*/manifest.json)

.PHONY: build validate deploy-tools deploy-prereqs

$(eval $(call tool_venv,$(TOOLS_VENV),layers/requirements-tools.txt))
$(eval $(call tool_venv,$(CHECKOV_VENV),layers/requirements-checkov.txt))
$(eval $(call tool_venv,$(LAMBDA_RUNTIME),layers/requirements-lambda-runtime.txt))

deploy-tools: $(TOOLS_VENV)/.installed $(CHECKOV_VENV)/.installed $(LAMBDA_RUNTIME)/.installed

# The model layers take build/model and build/models/<id> (template.yaml: Model*Layer).
build: $(TOOLS_VENV)/.installed | models
	$(SAM_ENV) $(SAM) build --parameter-overrides Architecture=$(ARCH)
	$(TOOLS_VENV)/bin/python layers/pin_arch.py .aws-sam/build/template.yaml $(ARCH)

validate: $(TOOLS_VENV)/.installed $(CHECKOV_VENV)/.installed
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint
	$(TOOLS_VENV)/bin/cfn-lint template.yaml
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --quiet \
		--compact --skip-download

# The stamps only need *a* model (`make test` refreshes it first via setup); `make build`
# above always asks model.mk whether its inputs changed.
build/model/manifest.json:
	$(MAKE) --no-print-directory model MODEL_DIR=build/model

build/models/%/manifest.json:
	$(MAKE) --no-print-directory models MODEL_DIR=build/model

build/sam/%/.built: $(SAM_INPUTS) $(TOOLS_VENV)/.installed | build/model/manifest.json \
		build/models/all-MiniLM-L6-v2-fp32/manifest.json
	rm -rf build/sam/$*/build && mkdir -p build/sam/$*
	$(SAM_ENV) $(SAM) build --build-dir build/sam/$*/build \
		--parameter-overrides Architecture=$* > build/sam/$*/build.log 2>&1 \
		|| { tail -n 40 build/sam/$*/build.log; exit 1; }
	$(TOOLS_VENV)/bin/python layers/pin_arch.py build/sam/$*/build/template.yaml $*
	touch $@

deploy-prereqs: deploy-tools build/sam/arm64/.built build/sam/x86_64/.built

test: deploy-prereqs
