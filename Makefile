# wbe — the two commands of the README, and the targets behind them.
#   make run    set everything up, run the workflow on the embedded real data, write the report
#   make test   set everything up, run the test suite (what CI runs)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
export OMP_WAIT_POLICY := passive
PROFILE ?= profiles/workstation
CONFIG ?= config/config.yaml
# pytest-xdist workers: each test file runs whole on one worker (module fixtures run once);
# 2 workers halve CI time on 2 cores (numba compilation and NEST runs are single-threaded)
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

.PHONY: install pyphi-env run report test test-slow test-slurm test-all lint schema docs clean

# A virtual environment with wbe and everything it needs, all from PyPI (MPI included).
# c302 and cect are data packages: installed without their optional heavy dependencies.
$(BIN)/wbe: pyproject.toml
	command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Debian: apt-get install python3.11 python3.11-venv)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[mpi,reference,test,slurm]"
	$(BIN)/pip install -q --no-deps "c302==0.12.1" "cect==0.3.5"
	touch $(BIN)/wbe

install: $(BIN)/wbe

# PyPhi 1.2, the independent reference for exact Φ, in an environment of its own (it is never
# imported by wbe; tests/reference/pyphi_runner.py runs in it)
PYPHI_VENV ?= .venv-pyphi
$(PYPHI_VENV)/bin/pyphi-ready: tests/reference/pyphi-requirements.txt
	test -x $(PYPHI_VENV)/bin/python || $(PYTHON) -m venv $(PYPHI_VENV)
	$(PYPHI_VENV)/bin/pip install -q -r tests/reference/pyphi-requirements.txt
	touch $@

pyphi-env: $(PYPHI_VENV)/bin/pyphi-ready

run: install
	$(BIN)/snakemake --workflow-profile $(PROFILE) --configfile $(CONFIG)
	$(BIN)/snakemake --workflow-profile $(PROFILE) --configfile $(CONFIG) --report results/report.html
	@echo "report: results/report.html   outputs: results/latest/"

report: install
	$(BIN)/snakemake --workflow-profile $(PROFILE) --configfile $(CONFIG) --report results/report.html

test: install pyphi-env
	$(BIN)/ruff check .
	$(PYTEST) -m "not slow"

test-slow: install pyphi-env
	$(PYTEST) -m "slow"

# Tests that submit to SLURM: bring up a single-node cluster first (root; apt-get slurm-wlm munge).
test-slurm: install
	scripts/slurm-cluster.sh start
	$(PYTEST) -m "slurm"

test-all: install pyphi-env
	$(PYTEST)

lint: install
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint

schema: install
	$(BIN)/wbe schema --out workflow/schemas/config.schema.json

# HTML documentation (API reference, a page per registered model, tutorial): docs/_build/html
docs: install
	$(BIN)/python -m sphinx -W -q -b html docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

clean:
	rm -rf results logs .snakemake docs/_build docs/_generated
