# Two entry points that work on a fresh machine with python3 only:
#   make run   -> .venv + package, then `gpu-moa run` on the embedded default data into out/
#   make test  -> .venv + test dependencies, lint, then pytest -m "not gpu"
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test test-quick lint format bench gpu-wheels gpu-check clean

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

# the quick loop: everything but the slow cases (full-size data, notebooks, subprocess PCA)
test-quick: $(TEST_STAMP)
	$(BIN)/python -m pytest -m "not gpu and not slow" -q -p no:cacheprovider

# GPU check, step 1 (on a machine with network): the wheels the GPU image (Python 3.12, CuPy for
# CUDA 13, NumPy, pandas, pyarrow, h5py, scikit-learn, SciPy, matplotlib, numba, pytest,
# hypothesis) lacks, into the git-ignored .whl/ (about 28 MB; copairs for the AP oracle tests).
GPU_WHEELS := array-api-compat array-api-strict iterative-stratification "dask[array]" distributed \
	umap-learn pynndescent tqdm copairs
GPU_IMAGE_HAS := numpy scipy scikit_learn numba llvmlite joblib threadpoolctl packaging click cloudpickle \
	fsspec jinja2 markupsafe msgpack narwhals psutil pyyaml sortedcontainers toolz tqdm zipp \
	pandas python_dateutil pytz tzdata six statsmodels patsy formulaic interface_meta typing_extensions wrapt
gpu-wheels: | $(BIN)/python
	rm -rf .whl
	$(PIP) download --quiet --dest .whl --only-binary=:all: --python-version 3.12 \
		--implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux_2_28_x86_64 $(GPU_WHEELS)
	for pkg in $(GPU_IMAGE_HAS); do rm -f .whl/$$pkg-*.whl; done
	@ls .whl | wc -l | xargs echo "wheels in .whl/:"; du -sh .whl

# GPU check, step 2 (on the GPU machine, no network, one command of at most 8 minutes): install
# .whl/ into .gpu-site/, run pytest -m gpu and the GPU benchmarks, write
# bench/results/*_gpu.json and bench/results/gpu_check_summary.json. GPU_CHECK_ARGS="--logs DIR
# --budget SECONDS" keeps each step's whole output and fits all steps into a time budget.
gpu-check:
	python3 bench/gpu_check.py $(GPU_CHECK_ARGS)

bench: $(TEST_STAMP)
	$(BIN)/python bench/io.py

clean:
	rm -rf $(VENV) out .pytest_cache
