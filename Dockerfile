# syntax=docker/dockerfile:1
#
# Images for docker-compose.yml and deploy/k8s/ (README.md, "Deploying"):
#
#   docker build -t b12-assistant:TAG .                 Rasa server and action server (last stage)
#   docker build --target proxy -t b12-proxy:TAG .      nginx: the web widget + reverse proxy
#   docker build --target actions -t b12-actions:TAG .  the action server alone (no Rasa)
#
# One app image for both Python roles (same code, same pinned dependencies); the command
# picks the role: the CMD below starts the Rasa server, `python -m actions.server --port 5055`
# the action server.
#
# The spaCy pipeline, knowledge/kb.json and the model are built HERE, at build time, not
# copied from the host. The image is then a function of the source tree alone: nothing from
# a developer's var/ or models/ (.dockerignore keeps them out) can slip in, and the model is
# trained with the very spaCy pipeline the image loads. Training takes about 2 minutes on 2
# cores and is cached while data, config, domain and dependencies are unchanged. The model
# keeps the name `make train` gives it (models/b12-<hash>.tar.gz, scripts/model_hash.sh), so
# it can be matched to a developer's tested model; models/current.tar.gz points at it.
#
# No secret is baked in: tokens and passwords come from the environment at run time.

########## the widget's socket.io client, from the npm registry (web/package-lock.json)
FROM node:22.14.0-bookworm-slim AS widget-deps
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev

########## proxy: nginx serving the widget and proxying socket.io and webhooks to Rasa
FROM nginx:1.28.0-alpine AS proxy
# Our nginx.conf replaces the stock one (which includes conf.d/): pid and temp files go to
# /tmp, so nginx runs as its unprivileged user on a read-only root file system.
RUN rm -f /etc/nginx/conf.d/default.conf
COPY deploy/nginx.conf /etc/nginx/nginx.conf
# The same files web/serve.py serves (never node_modules, package files or serve.py);
# /config.js is answered by nginx.conf itself.
COPY web/index.html web/widget.js web/widget.css web/demo.css web/favicon.svg /usr/share/nginx/html/
COPY --from=widget-deps /web/node_modules/socket.io-client/dist/socket.io.min.js /usr/share/nginx/html/vendor/
# The image's "nginx" user.
USER 101:101
EXPOSE 8080

########## actions: the action server alone, without Rasa or TensorFlow (about a third of the
########## app image's environment). `docker build --target actions -t b12-actions:TAG .`
# The action server needs rasa_sdk and the pure core only (docs/architecture.md); its packages
# are requirements-actions.txt. tests/actions/test_slim_image.py runs every kind of action with
# everything else unimportable. docker-compose.yml and deploy/k8s still run the app image's
# `python -m actions.server` (the same code); switch them to this image once it is built and
# started where a Docker engine runs (docs/deploying.md).
FROM python:3.10.18-slim-bookworm AS actions-deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements-actions.txt constraints.txt ./
RUN python -m venv .venv \
 && .venv/bin/pip install -q -r requirements-actions.txt -c constraints.txt \
 && .venv/bin/pip check

FROM actions-deps AS actions-build
ENV PYTHONPATH=/src
WORKDIR /src
COPY b12core b12core
COPY actions actions
COPY knowledge knowledge
# The spaCy pipeline and kb.json, as the app image builds them (no model: no Rasa here).
RUN /app/.venv/bin/python -m b12core.spacy_model \
 && /app/.venv/bin/python -m b12core.kb build \
 && /app/.venv/bin/python -m compileall -q b12core actions

FROM python:3.10.18-slim-bookworm AS actions
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /tmp --no-create-home --shell /usr/sbin/nologin app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
WORKDIR /app
COPY --from=actions-deps /app/.venv /app/.venv
COPY --from=actions-build /src/b12core /app/b12core
COPY --from=actions-build /src/actions /app/actions
COPY --from=actions-build /src/knowledge /app/knowledge
COPY --from=actions-build /src/var/spacy /app/var/spacy
USER 10001:10001
EXPOSE 5055
CMD ["python", "-m", "actions.server", "--port", "5055"]

########## Python dependencies: a virtual environment at /app/.venv, as `make install` makes it
FROM python:3.10.18-slim-bookworm AS python-deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements.txt constraints.txt ./
# Runtime requirements only (no pytest, ruff or Playwright), every version pinned by
# constraints.txt. The stamp is the Makefile's: in the image, `make <target>` sees the
# environment as installed and never tries to reinstall it.
RUN python -m venv .venv \
 && .venv/bin/pip install -q -r requirements.txt -c constraints.txt \
 && .venv/bin/pip check \
 && touch .venv/.installed

########## build: spaCy pipeline (make spacy), knowledge base (make kb), model (make train)
FROM python-deps AS build
ENV RASA_TELEMETRY_ENABLED=false \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONPATH=/src
WORKDIR /src
COPY . .
# The Makefile's recipes, spelled out (the virtual environment lives at /app/.venv, the
# sources at /src, so the runtime stage can copy the two as separate layers).
RUN /app/.venv/bin/python -m b12core.spacy_model \
 && /app/.venv/bin/python -m b12core.kb build \
 && hash="$(bash scripts/model_hash.sh)" \
 && /app/.venv/bin/rasa train --fixed-model-name "b12-${hash}" --out models \
 && ln -s "b12-${hash}.tar.gz" models/current.tar.gz \
 && rm -rf .rasa \
 && /app/.venv/bin/python -m compileall -q b12core actions rasa_server

########## app: the Rasa server (default command) and the action server
FROM python:3.10.18-slim-bookworm AS app
# make: so `make forget SENDER=<id>` (README.md, "Deploying") runs inside a container too.
RUN apt-get update \
 && apt-get install -y --no-install-recommends make=4.3-4.1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /tmp --no-create-home --shell /usr/sbin/nologin app
# HOME and MPLCONFIGDIR under /tmp: the only writable place when the root file system is
# read-only (deploy/k8s). Telemetry off, as everywhere the project starts Rasa.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RASA_TELEMETRY_ENABLED=false \
    TF_CPP_MIN_LOG_LEVEL=2 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /app
# Two layers: the environment (about 2 GB, changes with the requirements only), then the
# sources with the built spaCy pipeline, kb.json and model. Everything stays root's and
# read-only to the app user; only var/ itself is the app user's, for the SQLite tracker
# store used when TRACKER_STORE_URL is unset (a single container without PostgreSQL).
COPY --from=python-deps /app/.venv /app/.venv
COPY --from=build /src /app
# var/ is 0700 (conversations are health data); the launcher also sets umask 077, so the
# tracker database and its -wal/-shm are created 0600 (rasa_server/stores.py).
RUN chown app:app /app/var && chmod 700 /app/var
USER 10001:10001
EXPOSE 5005 5055
# The Rasa server (the launcher around `rasa run`); its HTTP API stays off.
CMD ["python", "-m", "rasa_server", "run", "--model", "models/current.tar.gz", \
     "--endpoints", "endpoints.yml", "--credentials", "credentials.yml", \
     "--interface", "0.0.0.0", "--port", "5005"]
