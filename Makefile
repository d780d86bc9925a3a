# The two commands: `make run` (whole system with demo data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test services lint install bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/python scripts/requirements.py dev > $(VENV)/requirements.txt
	$(BIN)/pip install -q -r $(VENV)/requirements.txt
	touch $@

install: $(VENV)/.installed

services: install
	$(BIN)/python scripts/services.py --mariadb --chromium

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: services lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)

run: services
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py setup_schedules
	$(BIN)/python manage.py setup_roles
	$(BIN)/python manage.py load_demo_data
	$(BIN)/python manage.py load_demo_broadcast
	$(BIN)/python scripts/run.py
