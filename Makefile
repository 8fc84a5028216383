# evalsuite — the two commands a newcomer types are `make eval` and `make test`;
# both build the virtual environment first when it is missing.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.evalsuite-installed
# Exact versions of everything setup installs (pip constraints); `make lock` refreshes it.
LOCK := evalsuite/tools/requirements.lock
# Offline by default: nothing in eval or test may reach a hub.
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
# ../shared/data when it is there (a checkout beside the shared folder); else the project's miniature samples.
EVALSUITE_DATA ?= $(shell [ -d ../shared/data ] && cd ../shared/data && pwd)
export EVALSUITE_DATA
SUITE ?= tasks/suites/quick.yaml

.PHONY: setup eval test leaderboard check bench parity wheelhouse lock clean

setup: $(STAMP)

# Without a GPU take the CPU build of torch (2.13.0 lies on this disk; an unpinned torch is a multi-GB CUDA build).
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@if ! command -v nvidia-smi >/dev/null 2>&1; then \
	   $(BIN)/pip install -q --disable-pip-version-check -c $(LOCK) "torch==2.13.0" || \
	   $(BIN)/pip install -q --disable-pip-version-check -c $(LOCK) torch --index-url https://download.pytorch.org/whl/cpu; fi
	$(BIN)/pip install -q --disable-pip-version-check -c $(LOCK) -e ".[dev,smollm]"
	@touch $(STAMP)

eval: setup
	$(BIN)/evalsuite run $(SUITE)

test: setup
	$(BIN)/python -m pytest -n 2 tests

leaderboard: setup
	$(BIN)/evalsuite publish results/quick

check: setup
	$(BIN)/evalsuite check --reference results/reference/quick --candidate results/quick/latest

parity: setup
	$(BIN)/python -m evalsuite.lab parity --mmlu 200 --hellaswag 200 --wikitext 10 --out results/parity/smollm2-135m-fp32-cpu.json

wheelhouse:
	bash evalsuite/tools/build_wheelhouse.sh .whl

# The newest versions pyproject allows, resolved in a fresh venv under /tmp and frozen into $(LOCK).
lock:
	bash evalsuite/tools/refresh_lock.sh $(LOCK)

clean:
	rm -rf $(VENV) .pytest_cache
