# Two entry points (README): `make quickstart` and `make test`. Both depend on `setup`, which is
# idempotent: it makes .venv once, installs the CPU build of torch (never the multi-GB CUDA one),
# then this package with its test extras. To use another torch, install it into .venv first:
# setup keeps any torch that is already there.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: setup quickstart test lint clean-index

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

quickstart: setup
	$(BIN)/hsearch index corpora/ --index indexes/quickstart
	$(BIN)/hsearch query "赤い惑星は?" -k 3 --index indexes/quickstart
	$(BIN)/hsearch query "地球の双子星と呼ばれる惑星は?" -k 3 --index indexes/quickstart

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check hybridsearch tests bench
	$(BIN)/mypy hybridsearch
