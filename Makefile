# Two entry points that work on a fresh machine with python3 only:
#   make run   -> .venv + package, then `gpu-moa run` on the embedded default data into out/
#   make test  -> .venv + test dependencies, lint, then pytest -m "not gpu"
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e ".[umap]"
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e ".[umap,test]"
	touch $(STAMP) $@

run: $(STAMP)
	$(BIN)/gpu-moa run --out out

lint: $(TEST_STAMP)
	$(BIN)/ruff check gpu_moa tests bench
	$(BIN)/ruff format --check gpu_moa tests bench

format: $(TEST_STAMP)
	$(BIN)/ruff check --fix gpu_moa tests bench
	$(BIN)/ruff format gpu_moa tests bench

test: lint
	$(BIN)/python -m pytest -m "not gpu" -q -p no:cacheprovider

bench: $(TEST_STAMP)
	$(BIN)/python bench/io.py

clean:
	rm -rf $(VENV) out .pytest_cache
