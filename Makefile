# Tsunagu — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB := $(CURDIR)/instance/demo.db
HOST ?= 127.0.0.1
PORT ?= 8000

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## make demo: SQLite, no Redis; migrates, loads tenants/, serves on http://$(HOST):$(PORT)/
demo: install
	@mkdir -p instance
	@export TSUNAGU_ENV=development TSUNAGU_DATABASE_URL=sqlite:///$(DEMO_DB) \
	        TSUNAGU_BASE_DOMAIN=localhost; \
	 $(BIN)/tsunagu db upgrade && \
	 $(BIN)/tsunagu tenants sync tenants/ && \
	 echo && echo "Tsunagu demo: open http://$(HOST):$(PORT)/ (tenants: http://$(HOST):$(PORT)/t/<slug>/)" && echo && \
	 exec $(BIN)/tsunagu dev --host $(HOST) --port $(PORT)

## make test: lint, type-check, then the whole suite against the real PostgreSQL and Redis on this machine
test: install lint typecheck pytest

lint: install
	$(BIN)/ruff check platform tests migrations
	$(BIN)/ruff format --check platform tests migrations

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/python -m pytest -q

## make bench: the benchmark harness on this machine's PostgreSQL and Redis; results in bench/results/
bench: install
	$(BIN)/tsunagu bench

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
