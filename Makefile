# Two commands matter: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install clean openapi docs bench bench-quick lock fuzz mutation

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Dependencies come from lock files with hashes (`make lock` writes them), then
# Tidings itself from this checkout.
$(STAMP): requirements/test.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/test.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(VENV)/.installed-run: requirements/run.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/run.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

install: $(STAMP)

run: $(VENV)/.installed-run
	$(BIN)/tidings serve --dev

# Pin every dependency with its hashes, after a change to pyproject.toml's lists.
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet pip-tools==7.7.0
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links --extra examples -o requirements/run.lock \
		pyproject.toml
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links --extra test --extra otel --extra examples \
		-o requirements/test.lock \
		pyproject.toml

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The spec fuzzing of `make test`, wider and with a fresh seed.
fuzz: install
	FUZZ_EXAMPLES=50 FUZZ_SEED= $(BIN)/python -m pytest tests/integration/test_spec_fuzzing.py

# Mutation testing, not part of `make test` (about 35 minutes here; see docs/testing.md).
mutation: install
	$(BIN)/python -m pip install --quiet mutmut==3.8.1
	$(BIN)/mutmut run
	$(BIN)/python -m tests.mutations.named

lint: install
	$(BIN)/ruff check src tests examples tools benchmarks
	$(BIN)/ruff format --check src tests examples tools benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .tidings .pytest_cache .mypy_cache .ruff_cache

openapi: install
	$(BIN)/python -m tidings.api.spec > docs/openapi.json

docs: openapi
	$(BIN)/python tools/sync_settings_table.py

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks.run

bench-quick: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks.run --quick
