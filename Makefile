# Two commands on a fresh machine with Python 3.11, git and make: `make run`, `make test`.
.DEFAULT_GOAL := help
.PHONY: help run test test-fast lint bench browser

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV := .venv
BIN := $(VENV)/bin
# Reinstall only when the dependencies (pyproject.toml) change.
STAMP := $(VENV)/.installed-stamp
ARGS ?=

help:
	@echo "make run    start recado locally (embedded PostgreSQL unless DATABASE_URL is set)"
	@echo "make test   run the whole test suite against a real PostgreSQL"
	@echo "make test-fast  the pure tests only (domain rules, layering): no database, seconds"
	@echo "make browser  make sure Chromium (/usr/bin/chromium) is there for the browser tests"
	@echo "make lint   ruff check, format check and mypy (strict on domain and db)"
	@echo "make bench  webhook ingest benchmark (bench/ingest.py)"
	@echo "Extra arguments: make run ARGS='--port 9000'"

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11+ not found: install python3.11 (or set PYTHON=...)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "$(PYTHON) is older than 3.11: set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -e '.[dev]'
	@touch $@

# htmx, pinned by version and integrity, from the npm registry (ops/assets.py); served by the app.
ASSETS := webapp/static/vendor/htmx.min.js
$(ASSETS): ops/assets.py | $(STAMP)
	$(BIN)/python -m ops.assets

run: $(STAMP) $(ASSETS)
	$(BIN)/recado run $(ARGS)

# The browser tests (tests/browser) drive /usr/bin/chromium: installed when missing, or we stop.
browser:
	@.ci/chromium

test: $(STAMP) $(ASSETS) browser
	$(BIN)/python -m pytest $(ARGS)

# No conftest: the fast tier cannot reach a database or a fixture that needs one.
test-fast: $(STAMP)
	$(BIN)/python -m pytest --noconftest tests/domain tests/test_layering.py $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy domain db webapp actors ops

bench: $(STAMP)
	$(BIN)/python -m bench.ingest $(ARGS)
