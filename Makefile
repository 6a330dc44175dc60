# Tend: `make run` to try it, `make test` to check it. Everything installs into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt constraints.txt | cksum | cut -d' ' -f1)
PORT ?= 8000
DEMO_ACCOUNTS ?= 500
# A year of synthetic daily history and renewal outcomes, so the charts and the backtest have data.
DEMO_HISTORY_DAYS ?= 365
BENCH_ACCOUNTS ?= 100000
BENCH_EVENTS ?= 200000
# The benchmark seeds and scans its own database, never your working one.
BENCH_DATABASE_URL ?= sqlite:///$(CURDIR)/var/bench.sqlite3
# The fan-out benchmark needs a server database and Redis (this machine has both).
BENCH_PG_URL ?= postgres://postgres@127.0.0.1:5432/tend_bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/2
BENCH_WORKERS ?= 1,2,4
# make bench-million: a book of its own on each database (about 2 GB each).
MILLION_ACCOUNTS ?= 1000000
MILLION_SQLITE_URL ?= sqlite:///$(CURDIR)/var/million.sqlite3
MILLION_PG_URL ?= postgres://postgres@127.0.0.1:5432/tend_million

.PHONY: help install browser setup run test lint suite bench bench-usage bench-crm bench-timeline bench-api bench-handoff bench-admin bench-load bench-fanout bench-whatif bench-million clean

help:
	@echo "make run    set up (venv, deps, migrations, demo data, schedules) and start web + q-cluster"
	@echo "make test   set up and run ruff, the import contracts, the migrations check and the test suite"
	@echo "make bench  time the daily scan on BENCH_ACCOUNTS accounts against the raw-driver floor"
	@echo "make bench-usage  usage events accepted and rolled up per second, against raw floors"
	@echo "make bench-crm  100,000 companies pulled from and health pushed to a loopback HubSpot, against floors"
	@echo "make bench-timeline  an account's timeline pages: 5 years of scores and 10,000 events"
	@echo "make bench-api  bulk signal ingestion (rows/s) and list-endpoint latency at BENCH_ACCOUNTS"
	@echo "make bench-handoff  opportunity saved -> draft written, through a running q-cluster"
	@echo "make bench-admin  admin page times and queries at BENCH_ACCOUNTS (as a CSM and as a manager)"
	@echo "make bench-load  API p50/p95/p99 under concurrent load: gunicorn + wrk on loopback"
	@echo "make bench-million  1,000,000 accounts: the daily cycle on SQLite, the scan on PostgreSQL with 1, 2, 4 workers"
	@echo "make bench-fanout  the scan through a real q-cluster with BENCH_WORKERS workers (PostgreSQL + Redis)"
	@echo "make bench-whatif  the what-if preview and the backtests at 10,000 accounts, in the request and queued"

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

# The browser tests drive Debian's Chromium through its chromedriver. Installed
# when missing and the machine allows it (root with apt-get); otherwise those
# tests skip and say why.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing chromium and chromium-driver for the browser tests"; \
	  (apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
	   || (apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null)) \
	  || echo "Could not install chromium; the browser tests will skip."; \
	else echo "No chromium/chromedriver and no way to install them here; the browser tests will skip."; fi

setup: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py bootstrap --demo-accounts $(DEMO_ACCOUNTS) --demo-history-days $(DEMO_HISTORY_DAYS)

run: setup
	@echo ""
	@echo "  Tend is starting: http://127.0.0.1:$(PORT)/admin/  (login printed above; Ctrl-C stops web and workers)"
	@echo ""
	$(BIN)/honcho -f Procfile.dev start -p $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

suite: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: install browser
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	@mkdir -p var
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py migrate --noinput -v 0
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py benchmark_scan --accounts $(BENCH_ACCOUNTS) --alerts --cycle

bench-usage: install
	@mkdir -p var
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py migrate --noinput -v 0
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py benchmark_usage --events $(BENCH_EVENTS) --accounts 10000

bench-crm: install
	@mkdir -p var
	DATABASE_URL=sqlite:///$(CURDIR)/var/bench-crm.sqlite3 $(BIN)/python manage.py migrate --noinput -v 0
	DATABASE_URL=sqlite:///$(CURDIR)/var/bench-crm.sqlite3 $(BIN)/python manage.py benchmark_crm --records $(BENCH_ACCOUNTS)

bench-timeline: install
	@mkdir -p var
	DATABASE_URL=sqlite:///$(CURDIR)/var/bench-timeline.sqlite3 $(BIN)/python manage.py migrate --noinput -v 0
	DATABASE_URL=sqlite:///$(CURDIR)/var/bench-timeline.sqlite3 $(BIN)/python manage.py benchmark_timeline

bench-api: install
	@mkdir -p var
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py migrate --noinput -v 0
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py benchmark_api --accounts $(BENCH_ACCOUNTS)

bench-handoff: install
	@mkdir -p var
	rm -f var/handoff.sqlite3*
	DATABASE_URL=sqlite:///$(CURDIR)/var/handoff.sqlite3 $(BIN)/python manage.py migrate --noinput -v 0
	DATABASE_URL=sqlite:///$(CURDIR)/var/handoff.sqlite3 $(BIN)/python manage.py benchmark_handoff

bench-admin: install
	@mkdir -p var
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py migrate --noinput -v 0
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py benchmark_admin --accounts $(BENCH_ACCOUNTS)

bench-load: install
	@command -v wrk >/dev/null || apt-get install -y -q wrk >/dev/null || (echo "Install wrk (apt-get install wrk)"; exit 1)
	@mkdir -p var
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py migrate --noinput -v 0
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py benchmark_load --accounts $(BENCH_ACCOUNTS)

# The what-if preview and the backtests at 10,000 accounts with a year of daily history (seeded once,
# about 8 minutes), in the request and queued, against a raw floor.
bench-whatif: install
	@mkdir -p var
	DATABASE_URL=sqlite:///$(CURDIR)/var/bench-whatif.sqlite3 $(BIN)/python manage.py migrate --noinput -v 0
	DATABASE_URL=sqlite:///$(CURDIR)/var/bench-whatif.sqlite3 $(BIN)/python manage.py benchmark_whatif --accounts 10000

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

bench-fanout: install
	@psql "$(dir $(BENCH_PG_URL))postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$(notdir $(BENCH_PG_URL))'" | grep -q 1 \
	  || psql "$(dir $(BENCH_PG_URL))postgres" -qc 'CREATE DATABASE "$(notdir $(BENCH_PG_URL))"'
	DATABASE_URL=$(BENCH_PG_URL) REDIS_URL=$(BENCH_REDIS_URL) Q_CLUSTER_NAME=tend-bench $(BIN)/python manage.py migrate --noinput -v 0
	DATABASE_URL=$(BENCH_PG_URL) REDIS_URL=$(BENCH_REDIS_URL) Q_CLUSTER_NAME=tend-bench \
	  $(BIN)/python manage.py benchmark_fanout --accounts $(BENCH_ACCOUNTS) --workers $(BENCH_WORKERS)

# A million accounts, end to end (about 45 minutes): seeded in bulk, then on SQLite the scan and the
# daily cycle against their floors, on PostgreSQL the scan against its floor in one process and
# through a real q-cluster with 1, 2 and 4 workers. Each prints accounts/s, queries per batch, peak
# memory and the ratio to its floor or to one worker.
bench-million: install
	@mkdir -p var
	DATABASE_URL=$(MILLION_SQLITE_URL) $(BIN)/python manage.py migrate --noinput -v 0
	DATABASE_URL=$(MILLION_SQLITE_URL) $(BIN)/python manage.py benchmark_scan --accounts $(MILLION_ACCOUNTS) --first-scan --cycle --repeat 1
	@psql "$(dir $(MILLION_PG_URL))postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$(notdir $(MILLION_PG_URL))'" | grep -q 1 \
	  || psql "$(dir $(MILLION_PG_URL))postgres" -qc 'CREATE DATABASE "$(notdir $(MILLION_PG_URL))"'
	DATABASE_URL=$(MILLION_PG_URL) $(BIN)/python manage.py migrate --noinput -v 0
	DATABASE_URL=$(MILLION_PG_URL) $(BIN)/python manage.py benchmark_scan --accounts $(MILLION_ACCOUNTS) --first-scan --repeat 1
	DATABASE_URL=$(MILLION_PG_URL) REDIS_URL=$(BENCH_REDIS_URL) Q_CLUSTER_NAME=tend-million \
	  $(BIN)/python manage.py benchmark_fanout --accounts $(MILLION_ACCOUNTS) --workers $(BENCH_WORKERS)
