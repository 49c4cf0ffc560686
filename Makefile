# B12 liver assistant: `make run` to chat, `make test` to check everything.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DEFAULT_GOAL := help

export RASA_TELEMETRY_ENABLED := false
export PYTHONPATH := $(CURDIR)
export TF_CPP_MIN_LOG_LEVEL := 2
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Rasa 3.6 needs Python 3.10 (a pyenv shim may be on PATH without being active).
PYTHON310 ?= $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do \
	if "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then echo "$$p"; break; fi; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SPACY_MODEL := var/spacy/en_b12_liver/config.cfg
MODEL_HASH = $(shell scripts/model_hash.sh)
MODEL = models/b12-$(MODEL_HASH).tar.gz

.PHONY: help install spacy kb triage-model train run shell test test-fast lint audit forget bench bench-quick clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@test -n "$(PYTHON310)" || { echo "Python 3.10 not found (Rasa 3.6 needs it)"; exit 1; }
	test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | { grep -v "is ignored" || true; }
	$(PY) -m pip install -q -r requirements-dev.txt -c constraints.txt 2>&1 | { grep -v "is ignored" || true; }
	$(PY) -m pip check
	touch $@

install: $(STAMP) ## Create .venv and install the pinned requirements (only when they change)

$(SPACY_MODEL): b12core/spacy_model.py $(STAMP)
	$(PY) -m b12core.spacy_model

spacy: $(SPACY_MODEL) ## Build the project's spaCy pipeline under var/spacy

knowledge/kb.json: knowledge/article.md b12core/kb/build.py $(SPACY_MODEL)
	$(PY) -m b12core.kb build

kb: $(SPACY_MODEL) ## Rebuild knowledge/kb.json from knowledge/article.md
	$(PY) -m b12core.kb build

triage-model: $(STAMP) ## Retrain the triage's learned detector (knowledge/triage_learned.json) from the tuning sets
	$(PY) scripts/build_triage_model.py

train: $(SPACY_MODEL) ## Train the Rasa model unless one for this data/config/domain exists
	@mkdir -p var/log
	@if [ -f $(MODEL) ]; then echo "model up to date: $(MODEL)"; else \
		echo "training $(MODEL) (log: var/log/train.log)"; start=$$SECONDS; \
		$(VENV)/bin/rasa train --fixed-model-name b12-$(MODEL_HASH) --out models \
			> var/log/train.log 2>&1 || { tail -n 60 var/log/train.log; exit 1; }; \
		echo "trained in $$((SECONDS - start)) s: $(MODEL)"; fi

web/node_modules: web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund
	touch $@

run: knowledge/kb.json train web/node_modules ## Start the action server, the Rasa server (:5005) and the web chat demo (:8080)
	umask 077 && mkdir -p var && chmod 700 var && scripts/serve.sh run $(MODEL)

shell: knowledge/kb.json train ## Chat in the terminal (rasa shell), action server included
	umask 077 && mkdir -p var && chmod 700 var && scripts/serve.sh shell $(MODEL)

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check .

# pip-audit lives in its own venv: its dependencies conflict with rasa 3.6's pins.
var/audit-venv/.installed: requirements-audit.txt | $(STAMP)
	rm -rf var/audit-venv
	$(PY) -m venv var/audit-venv
	var/audit-venv/bin/python -m pip install -q -r requirements-audit.txt 2>&1 | { grep -v "is ignored" || true; }
	var/audit-venv/bin/python -m pip check
	touch $@

audit: $(STAMP) var/audit-venv/.installed ## pip-audit the pins; every finding must be accepted in security/
	$(PY) scripts/audit.py

test: lint train web/node_modules ## Lint, then the whole test suite (unit, data validation, end to end)
	MODEL_PATH=$(MODEL) $(PY) -m pytest

# The unit tests alone (docs/testing.md): no server, browser or trained model, none of the CLI
# tests that start a fresh Python per case, none of the evaluation sets. `make test` runs them all.
FAST_TESTS := tests/b12core tests/actions tests/rasa_server tests/deploy tests/security \
	tests/test_architecture.py tests/test_docs.py
FAST_SKIP := --ignore=tests/b12core/kb/test_cli.py --ignore=tests/b12core/labs/test_cli.py \
	--ignore=tests/b12core/labs/test_reading_sets.py --ignore=tests/b12core/safety/test_triage_eval.py \
	--ignore=tests/rasa_server/test_graph.py --ignore=tests/rasa_server/test_patches.py \
	--deselect=tests/b12core/safety/test_triage.py::test_the_learned_reader_matches_scikit_learn

test-fast: knowledge/kb.json ## Unit tests without servers, under a minute (no e2e, web, model, CLI or evaluation-set tests)
	$(PY) -m pytest -q -m "not e2e" $(FAST_TESTS) $(FAST_SKIP)

forget: $(STAMP) ## Delete stored conversations: make forget SENDER=<id>, or DAYS=<n> (silent that long)
	@test -n "$(SENDER)$(DAYS)" || { echo "usage: make forget SENDER=<conversation id> | DAYS=<n>"; exit 2; }
	$(PY) -m rasa_server.forget $(if $(DAYS),--older-than-days "$(DAYS)","$(SENDER)")

bench: knowledge/kb.json train ## Micro-benchmarks, the server against stock `rasa init` (with a B12_SPEEDUPS=off row), each speed patch's worth, the widget's socket.io path (~23 min)
	$(PY) scripts/bench.py
	MODEL_PATH=$(MODEL) $(PY) scripts/bench_server.py
	MODEL_PATH=$(MODEL) $(PY) scripts/bench_patches.py
	MODEL_PATH=$(MODEL) $(PY) scripts/bench_socketio.py

bench-quick: knowledge/kb.json train ## Smoke run of the server benchmark (fewer messages)
	MODEL_PATH=$(MODEL) $(PY) scripts/bench_server.py --quick

clean: ## Remove built artefacts (keeps .venv)
	rm -rf var models .pytest_cache .ruff_cache web/node_modules test-artifacts
