# syntax=docker/dockerfile:1
#
# Tsunagu production image: one image, three processes (web, worker, beat) plus the migration Job.
#
#   docker build -t registry.example.jp/tsunagu/tsunagu:$(git describe --tags) .
#
# Stages: `assets` builds the front-end bundle (when package.json exists), `builder` builds the virtualenv
# (the only stage with a compiler), `runtime` is python-slim with the venv and the application files,
# running as uid 10001 on a read-only root filesystem (see helm/tsunagu).
# Pin the base images by digest in your registry mirror (`python:3.11-slim-bookworm@sha256:...`).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim

# --- front-end assets (htmx, the bpmn-js viewer, the designer bundles) ------------------------------------
FROM ${NODE_IMAGE} AS assets
WORKDIR /src
# pyproject.toml always exists, so this COPY succeeds while the repository has no package.json yet.
COPY pyproject.toml package*.json ./
# Dev dependencies (eslint) are not needed to build; esbuild is a regular dependency with its binary inside.
RUN if [ -f package.json ]; then npm ci --no-audit --no-fund --omit=dev; fi
COPY . .
# The bundle lands in platform/tsunagu/web/static/dist; the directory exists (empty) even without one.
RUN if [ -f package.json ]; then npm run build; fi \
    && mkdir -p platform/tsunagu/web/static/dist

# --- Python virtualenv -----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Compilers for any dependency without a wheel for this platform; they never reach the runtime stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY pyproject.toml README.md* ./
# The package is installed as a path entry pointing at /app/platform rather than copied into
# site-packages: tsunagu.config derives the locations of migrations/, tenants/ and workflows/ from the
# package's own path (the repository layout), and /app mirrors that layout. A placeholder package lets
# this layer (all dependencies, the `tsunagu` console script) be cached until pyproject.toml changes;
# the real sources are copied into the runtime stage at the same path.
RUN mkdir -p platform/tsunagu \
    && touch platform/tsunagu/__init__.py \
    && pip install --upgrade pip setuptools wheel \
    && pip install --editable . \
    && pip check

# --- runtime -----------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="tsunagu" \
      org.opencontainers.image.description="Tsunagu (つなぐ): multi-tenant casework platform for 生活困窮者自立支援" \
      org.opencontainers.image.licenses="Proprietary"

# WeasyPrint (printable meeting agendas) needs Pango; Noto CJK renders the Japanese text in the PDF.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --gid 10001 tsunagu \
    && useradd --uid 10001 --gid tsunagu --home-dir /app --no-create-home --shell /usr/sbin/nologin tsunagu

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Everything stays owned by root: the application can read its code but never change it.
COPY alembic.ini pyproject.toml ./
COPY migrations/ migrations/
COPY workflows/ workflows/
COPY tenants/ tenants/
COPY platform/ platform/
COPY --from=assets /src/platform/tsunagu/web/static/dist/ platform/tsunagu/web/static/dist/
# Byte-compile now: at run time the root filesystem is read-only. The UI catalogues (.mo) are build outputs.
RUN python -m compileall -q -j 0 platform migrations \
    && /opt/venv/bin/pybabel compile -d platform/tsunagu/translations

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    TSUNAGU_TENANTS_DIR=/app/tenants \
    TSUNAGU_WORKFLOWS_DIR=/app/workflows

USER 10001:10001
EXPOSE 8000
# The web process; the chart overrides the command for the worker (`celery -A tsunagu.jobs worker`),
# beat (`tsunagu beat`) and the migration Job (`tsunagu db upgrade`).
CMD ["gunicorn", "--bind=0.0.0.0:8000", "--workers=2", "--access-logfile=-", "tsunagu.app:create_app()"]
