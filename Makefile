# git-batch developer commands. `make demo` and `make test` are the README's quick start.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(CURDIR)/$(VENV)/bin
DEMO ?= $(CURDIR)/build/demo-registry
PYTEST_ARGS ?=

.PHONY: venv demo test lint typecheck docs-check check bench bench-venv clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

demo: venv
	rm -rf $(DEMO)
	PATH="$(BIN):$$PATH" git batch demo $(DEMO)
	cd $(DEMO) && PATH="$(BIN):$$PATH" git batch list

test: venv
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check gitops tests bench

typecheck: venv
	$(VENV)/bin/mypy

docs-check: venv
	$(PY) -m pytest -q tests/unit/test_docs.py

check: lint typecheck test

# Benchmarks time the installed package (a wheel in its own venv), as users run it; an editable
# install pays for its import hook on every start.
BENCH_VENV ?= build/bench-venv
bench-venv: venv
	rm -rf $(BENCH_VENV)
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet .

bench: bench-venv
	PATH="$(CURDIR)/$(BENCH_VENV)/bin:$$PATH" $(PY) bench/query.py --commits $${COMMITS:-200000} $(BENCH_ARGS)

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
