# evalsuite — the two commands a newcomer types are `make eval` and `make test`;
# both build the virtual environment first when it is missing.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.evalsuite-installed
# Offline by default: nothing in eval or test may reach a hub.
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
# ../shared/data when it is there (a checkout beside the shared folder); else the project's miniature samples.
EVALSUITE_DATA ?= $(shell [ -d ../shared/data ] && cd ../shared/data && pwd)
export EVALSUITE_DATA
SUITE ?= tasks/suites/quick.yaml

.PHONY: setup eval test leaderboard check bench parity wheelhouse clean

setup: $(STAMP)

# Without a GPU take the CPU build of torch (2.13.0 lies on this disk; an unpinned torch is a multi-GB CUDA build).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@if ! command -v nvidia-smi >/dev/null 2>&1; then \
	   $(BIN)/pip install -q --disable-pip-version-check "torch==2.13.0" || \
	   $(BIN)/pip install -q --disable-pip-version-check torch --index-url https://download.pytorch.org/whl/cpu; fi
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev,smollm]"
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
	$(BIN)/evalsuite parity --mmlu 200 --hellaswag 200 --wikitext 10 --out results/parity/smollm2-135m-fp32-cpu.json

wheelhouse:
	bash evalsuite/tools/build_wheelhouse.sh .whl

clean:
	rm -rf $(VENV) .pytest_cache
