# The few verbs a person (and CI) types. Each one brings .venv up to date first; the
# install reruns only when pyproject.toml is newer than the stamp file.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint fmt worker beat bench bench-quick bench-hl7 clean audit
.PHONY: up down

# The docker stack (docker/compose.yaml). COMPOSE=docker-compose for Compose v1.
COMPOSE ?= docker compose
COMPOSE_FILE_ARGS := -f docker/compose.yaml

help:
	@echo "make run      migrate, load demo data, serve on http://$(HOST):$(PORT)/ (PORT=8080 for another)"
	@echo "make test     pytest in parallel (PYTEST_ARGS='...' passes options through)"
	@echo "make lint     ruff, ruff format --check, mypy, the layering (lint-imports), missing migrations"
	@echo "make fmt      ruff format + ruff check --fix"
	@echo "make audit    bandit on the code, pip-audit on the installed dependencies"
	@echo "make worker   Celery worker (needs REDIS_URL)"
	@echo "make beat     Celery beat (needs REDIS_URL)"
	@echo "make bench    decision and scan benchmarks (scans need PostgreSQL), bench/results/"
	@echo "make bench-quick  the scale suite at 10,000 patients, short phases (CI prints it)"
	@echo "make bench-hl7  HL7 ingest: 100,000 ORU^R01 messages, messages per second (PostgreSQL)"
	@echo "make clean    remove .venv and caches"
	@echo "make up       docker stack (postgres, redis, web, worker, beat) on http://localhost:8000/"
	@echo "make down     stop the docker stack (its data volumes stay)"

# Created once; pip is upgraded only here.
$(VENV)/pyvenv.cfg:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml $(VENV)/pyvenv.cfg
	$(PY) -m pip install -q -e ".[dev]"
	@touch $(STAMP) $(RUNTIME_STAMP)

# The runtime alone, for `make run` (the dev tools come with `make test`, `make lint`, ...).
RUNTIME_STAMP := $(VENV)/.installed-runtime
$(RUNTIME_STAMP): pyproject.toml $(VENV)/pyvenv.cfg
	@echo "Installing the runtime into $(VENV) (once; a minute or so)..."
	@$(PY) -m pip install -q --disable-pip-version-check -e . > $(VENV)/pip-runtime.log 2>&1 \
		|| { cat $(VENV)/pip-runtime.log >&2; exit 1; }
	@touch $(RUNTIME_STAMP)

install: $(STAMP)

# Quiet: the migrations and the demo data say nothing unless they fail; the server
# (web/management/commands/demo_serve.py, runserver without its banner) prints the address and
# the demo logins once it listens, so they are the last lines.
run: $(RUNTIME_STAMP)
	@$(PY) manage.py migrate --noinput -v 0
	@$(PY) manage.py seed_demo > $(VENV)/seed_demo.log 2>&1 \
		|| { cat $(VENV)/seed_demo.log >&2; exit 1; }
	@$(PY) manage.py demo_serve "$(HOST):$(PORT)"

test: install
	$(PY) -m pytest -n auto $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run

# bandit: findings fail the build (each exception is a `# nosec` with its reason). pip-audit:
# a known vulnerability fails the build; when the advisory service cannot be reached (this
# machine's network reaches a package mirror only) it says so and what it could not check.
audit: install
	$(VENV)/bin/bandit -q -r clozrems engine patients monitoring feeds pharmacy notifications audit clinical oversight web -x "*/migrations/*"
	@$(VENV)/bin/pip freeze --exclude-editable > .venv/requirements-audit.txt
	@$(VENV)/bin/pip-audit -r .venv/requirements-audit.txt --progress-spinner off > .venv/pip-audit.txt 2>&1; \
		status=$$?; cat .venv/pip-audit.txt | head -5; \
		skipped=$$(grep -c "could not be audited" .venv/pip-audit.txt); \
		if grep -q "Found [0-9]* known vulnerabilit" .venv/pip-audit.txt; then exit 1; fi; \
		if [ "$$skipped" -gt 0 ]; then echo "pip-audit: UNVERIFIED - $$skipped packages could not be audited (advisory service unreachable)"; \
		elif [ $$status -ne 0 ]; then exit $$status; fi

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

BENCH_PATIENTS ?= 100000
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/clozrems_bench

# The engine and endpoint micro-benchmark, then the scale suite (bench/run.py) on PostgreSQL:
# generated once per size and reused (BENCH_FRESH=1 regenerates); BENCH_PATIENTS=1000000 for
# the full run. Bulk generation runs statements longer than the web's statement_timeout.
bench: install
	$(PY) bench/decision_bench.py
	@if $(PY) -c "import psycopg; psycopg.connect('$(BENCH_DATABASE_URL)'.rsplit('/', 1)[0] + '/postgres').close()" 2>/dev/null; then \
		BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) DATABASE_STATEMENT_TIMEOUT_MS=0 $(PY) bench/run.py --patients $(BENCH_PATIENTS) $(if $(BENCH_FRESH),,--reuse); \
	else \
		echo "SKIPPED scale suite: no PostgreSQL at $(BENCH_DATABASE_URL) (set BENCH_DATABASE_URL)"; \
	fi

# The same suite, small and short (10,000 patients, 3 s phases, 1 and 8 clients, 5,000 HL7
# messages): figures to read, never a pass/fail timing. CI runs it and prints the table.
bench-quick: install
	@if $(PY) -c "import psycopg; psycopg.connect('$(BENCH_DATABASE_URL)'.rsplit('/', 1)[0] + '/postgres').close()" 2>/dev/null; then \
		BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) DATABASE_STATEMENT_TIMEOUT_MS=0 $(PY) bench/run.py --patients 10000 --seconds 3 --levels 1,8 --hl7-messages 5000 --hl7-patients 1000 $(if $(BENCH_FRESH),,--reuse); \
	else \
		echo "SKIPPED bench-quick: no PostgreSQL at $(BENCH_DATABASE_URL) (set BENCH_DATABASE_URL)"; \
	fi

# HL7 ingest: a file of BENCH_HL7_MESSAGES ORU^R01 messages through the feed path, on a fresh
# PostgreSQL database (BENCH_HL7_DATABASE_URL), messages per second.
BENCH_HL7_MESSAGES ?= 100000
bench-hl7: install
	DATABASE_STATEMENT_TIMEOUT_MS=0 $(PY) bench/hl7_bench.py --messages $(BENCH_HL7_MESSAGES)

worker: install
	$(VENV)/bin/celery -A clozrems worker -l info

beat: install
	$(VENV)/bin/celery -A clozrems beat -l info

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

up:
	@test -f docker/.env || { echo "docker/.env is missing: cp docker/.env.example docker/.env, then fill in SECRET_KEY and POSTGRES_PASSWORD" >&2; exit 1; }
	$(COMPOSE) $(COMPOSE_FILE_ARGS) up -d --build

down:
	$(COMPOSE) $(COMPOSE_FILE_ARGS) down
