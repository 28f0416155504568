# Tsunagu — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB := $(CURDIR)/instance/demo.db
HOST ?= 127.0.0.1
PORT ?= 8000
IDP_PORT ?= 8001
MAIL_PORT ?= 1025
MAIL_WEB_PORT ?= 1080

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test lint typecheck pytest bench chaos clean system-deps translations

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

ASSETS_STAMP := platform/tsunagu/web/static/dist/.built
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

# Front-end assets from the npm lock file into static/dist/ (gitignored): htmx and the bpmn-js viewer copied,
# the designers bundled by esbuild from frontend/designer/; redone when the lock file, the build script or a
# bundle source changes.
DESIGNER_SOURCES := $(shell find frontend -type f 2>/dev/null)
$(ASSETS_STAMP): package-lock.json scripts/build-assets.mjs $(DESIGNER_SOURCES)
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	node scripts/build-assets.mjs

# Browser tests drive Debian's Chromium; Japanese screenshots and the agenda PDF need a CJK font; WeasyPrint
# (the agenda PDF) needs Pango. Installed only when missing.
system-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -f $(CJK_FONT) ] || ! /sbin/ldconfig -p | grep -q libpangoft2-1.0 \
	    || [ ! -f /usr/lib/softhsm/libsofthsm2.so ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk \
	    libpango-1.0-0 libpangoft2-1.0-0 softhsm2; \
	fi

# UI translations: .po files are committed, .mo files are build outputs (gitignored).
translations: $(STAMP)
	$(BIN)/pybabel compile -d platform/tsunagu/translations

install: $(STAMP) system-deps $(ASSETS_STAMP) translations

## make demo: SQLite, no Redis; migrates, loads tenants/, starts the local OpenID provider with demo users on
## http://localhost:$(IDP_PORT)/ and a mail catcher (SMTP :$(MAIL_PORT), messages on http://127.0.0.1:$(MAIL_WEB_PORT)/)
## in the background (stopped on exit), then serves on http://$(HOST):$(PORT)/
demo: install
	@mkdir -p instance
	@export TSUNAGU_ENV=development TSUNAGU_DATABASE_URL=sqlite:///$(DEMO_DB) \
	        TSUNAGU_BASE_DOMAIN=localhost TSUNAGU_DEMO_IDP_URL=http://localhost:$(IDP_PORT) \
	        TSUNAGU_SMTP_HOST=127.0.0.1 TSUNAGU_SMTP_PORT=$(MAIL_PORT) TSUNAGU_SMTP_SECURITY=none \
	        TSUNAGU_SMTP_FROM=tsunagu@demo.localhost TSUNAGU_PUBLIC_URL=http://$(HOST):$(PORT); \
	 $(BIN)/tsunagu db upgrade && \
	 $(BIN)/tsunagu tenants sync tenants/ && \
	 { $(BIN)/python -m tsunagu.identity.devidp serve --port $(IDP_PORT) 2>instance/demo-idp.log & IDP_PID=$$!; \
	   $(BIN)/python -m tsunagu.notifications.mailcatcher serve --smtp-port $(MAIL_PORT) --http-port $(MAIL_WEB_PORT) \
	     >instance/demo-mail.log 2>&1 & MAIL_PID=$$!; \
	   trap 'kill $$IDP_PID $$MAIL_PID 2>/dev/null' EXIT INT TERM; \
	   $(BIN)/python -m tsunagu.identity.devidp wait $$TSUNAGU_DEMO_IDP_URL && \
	   $(BIN)/python -m tsunagu.identity.devidp users $$TSUNAGU_DEMO_IDP_URL --web http://$(HOST):$(PORT) && \
	   echo "Demo mail (everything Tsunagu sends): http://127.0.0.1:$(MAIL_WEB_PORT)/" && \
	   echo "Tsunagu demo: open http://$(HOST):$(PORT)/ (tenants: http://$(HOST):$(PORT)/t/<slug>/)" && echo && \
	   $(BIN)/tsunagu dev --host $(HOST) --port $(PORT); }

## make test: lint, type-check, then the whole suite against the real PostgreSQL and Redis on this machine
test: install lint typecheck pytest

lint: install
	npm run --silent lint
	$(BIN)/ruff check platform tests migrations bench chaos
	$(BIN)/ruff format --check platform tests migrations bench chaos
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/python -m pytest -q

## make bench: the benchmark harness on this machine's PostgreSQL and Redis; results in bench/results/
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

## make chaos: fault injection (issue #10) on a PostgreSQL cluster and a Redis of its own (free ports, temp dir):
## gunicorn + worker + beat under load, kill -9 / restarts / stop / freeze; about 5 minutes; chaos/results/
chaos: install
	$(BIN)/python -m chaos $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
