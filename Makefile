# The front door. `make run` sets everything up and starts the system; `make test` runs the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export FBS_HOST := $(HOST)
export FBS_PORT := $(PORT)

.PHONY: run test lint format bench loadtest demo install migrate ci clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
		{ echo "Python 3.11 is needed (found: $$($(PYTHON) --version 2>&1)). Set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py seed_demo

## Set up everything and start web, Celery worker and beat on the embedded defaults.
run: demo
	@echo ""
	@echo "  Control panel:  http://$(HOST):$(PORT)/"
	@echo "  Staff admin:    http://$(HOST):$(PORT)/admin/"
	@echo "  API docs:       http://$(HOST):$(PORT)/api/v1/docs"
	@echo "  Logins are listed above. Ctrl-C stops everything."
	@echo ""
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho -f Procfile.dev start

## The whole test suite. Without PostgreSQL/Redis in DATABASE_URL/CELERY_BROKER_URL it runs on
## SQLite and skips the tests that need them, saying how many and why.
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m bench

## 50 affiliates for 5 minutes against gunicorn, two workers and beat (PostgreSQL and Redis on
## 127.0.0.1), then the consistency checks; results in loadtest/results/ and RELIABILITY.md.
loadtest: install
	$(BIN)/python -m loadtest.run $(LOADTEST_ARGS)

clean:
	rm -rf var .pytest_cache .ruff_cache
