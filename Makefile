# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck contracts pytest chromium demo loadtest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Serve the engine on http://127.0.0.1:8000 with an embedded store and the demo data loaded.
run: $(STAMP)
	$(BIN)/nbo serve --demo

## Lint, type-check and run the whole test suite against a real embedded Valkey.
test: $(STAMP) lint typecheck contracts pytest

lint: $(STAMP)
	$(BIN)/ruff check engine api experiments loadtests tests
	$(BIN)/ruff format --check engine api experiments loadtests tests

typecheck: $(STAMP)
	$(BIN)/mypy

## The layering of ARCHITECTURE.md, as import-linter contracts in pyproject.toml.
contracts: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP) chromium
	$(BIN)/pytest -q

## Debian's chromium: the HTML report's acceptance test renders it headless (needs root or a
## CI image that already has it; the test looks for /usr/bin/chromium and fails without it).
chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

demo: $(STAMP)
	$(BIN)/nbo demo

LOAD_STAMP := $(VENV)/.installed-load

$(LOAD_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[load]'
	touch $(LOAD_STAMP)

## Locust against one API worker, every throughput as a ratio to the floor server measured in
## the same run; writes bench/out/loadtest. Options: make loadtest LOADTEST_ARGS="--duration 60"
LOADTEST_ARGS ?=
loadtest: $(LOAD_STAMP)
	$(BIN)/python -m loadtests.run $(LOADTEST_ARGS)

## Every benchmark (micro, scale, load tests) one after another; writes bench/results.json and
## refreshes the performance table of docs/performance.md. Options: make bench BENCH_ARGS="--skip loadtest"
BENCH_ARGS ?=
bench: $(LOAD_STAMP)
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .nbo .pytest_cache .mypy_cache .ruff_cache
