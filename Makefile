# Tend: `make run` to try it, `make test` to check it. Everything installs into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt constraints.txt | cksum | cut -d' ' -f1)
PORT ?= 8000
DEMO_ACCOUNTS ?= 500
BENCH_ACCOUNTS ?= 100000
# The benchmark seeds and scans its own database, never your working one.
BENCH_DATABASE_URL ?= sqlite:///$(CURDIR)/var/bench.sqlite3

.PHONY: help install setup run test lint suite bench bench-api bench-handoff clean

help:
	@echo "make run    set up (venv, deps, migrations, demo data, schedules) and start web + q-cluster"
	@echo "make test   set up and run ruff, the migrations check and the test suite"
	@echo "make bench  time the daily scan on BENCH_ACCOUNTS accounts against the raw-driver floor"
	@echo "make bench-api  bulk signal ingestion (rows/s) and list-endpoint latency at BENCH_ACCOUNTS"
	@echo "make bench-handoff  opportunity saved -> draft written, through a running q-cluster"

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

setup: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py bootstrap --demo-accounts $(DEMO_ACCOUNTS)

run: setup
	@echo ""
	@echo "  Tend is starting: http://127.0.0.1:$(PORT)/admin/  (login printed above; Ctrl-C stops web and workers)"
	@echo ""
	$(BIN)/honcho -f Procfile.dev start -p $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

suite: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: install
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	@mkdir -p var
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py migrate --noinput -v 0
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py benchmark_scan --accounts $(BENCH_ACCOUNTS) --alerts

bench-api: install
	@mkdir -p var
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py migrate --noinput -v 0
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py benchmark_api --accounts $(BENCH_ACCOUNTS)

bench-handoff: install
	@mkdir -p var
	rm -f var/handoff.sqlite3*
	DATABASE_URL=sqlite:///$(CURDIR)/var/handoff.sqlite3 $(BIN)/python manage.py migrate --noinput -v 0
	DATABASE_URL=sqlite:///$(CURDIR)/var/handoff.sqlite3 $(BIN)/python manage.py benchmark_handoff

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
