# Two commands matter: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install clean openapi docs bench bench-quick

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/tidings serve --dev

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests examples tools benchmarks
	$(BIN)/ruff format --check src tests examples tools benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .tidings .pytest_cache .mypy_cache .ruff_cache

openapi: install
	$(BIN)/python -m tidings.api.spec > docs/openapi.json

docs: openapi
	$(BIN)/python tools/sync_readme.py

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks.run

bench-quick: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks.run --quick
