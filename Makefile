# The two commands: `make run` (whole system with demo data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test services lint install bench dev-keys

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/python scripts/requirements.py dev > $(VENV)/requirements.txt
	$(BIN)/pip install -q -r $(VENV)/requirements.txt
	touch $@

install: $(VENV)/.installed

# Random SECRET_KEY and FIELD_ENCRYPTION_KEY of this checkout (settings read .run/dev-keys);
# written once, so passwords stored by make run stay readable.
dev-keys: .run/dev-keys

.run/dev-keys:
	mkdir -p .run
	$(PYTHON) scripts/dev_keys.py > $@.tmp && mv $@.tmp $@

services: install
	$(BIN)/python scripts/services.py --mariadb

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: dev-keys services lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)

run: dev-keys services
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py setup_schedules
	$(BIN)/python manage.py load_demo_data
	$(BIN)/python manage.py load_demo_broadcast
	$(BIN)/python scripts/run.py
