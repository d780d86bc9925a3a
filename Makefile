# The two commands: `make run` (whole system with demo data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# Test processes in parallel (pytest-xdist; each has its own test database and Redis db).
# More than the cores: many tests wait on a worker, a browser or a simulator.
PYTEST_WORKERS ?= 3

.PHONY: run test services lint install bench prod-smoke backup restore dev-keys

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
	$(BIN)/python scripts/services.py --mariadb --chromium

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy .

test: dev-keys services lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python scripts/prod_smoke.py
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Web, worker and beat from a venv of the runtime requirements only (what the image installs)
# must route one posted lead; the venv is cached in .run/prodvenv while pyproject's pins are the same.
prod-smoke: dev-keys services
	$(BIN)/python scripts/prod_smoke.py

run: dev-keys services
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py setup_schedules
	$(BIN)/python manage.py setup_roles
	$(BIN)/python manage.py load_demo_data
	$(BIN)/python manage.py load_demo_broadcast
	$(BIN)/python -m simulators setup
	$(BIN)/python scripts/run.py

# A backup into BACKUP_DIR (default var/backups), keeping the newest BACKUP_KEEP.
backup: services
	$(BIN)/python manage.py backup

# make restore BACKUP=var/backups/<stamp> [TARGET=postgres://.../leadbrain_restored]
# into an empty database (created when missing; default: DATABASE_URL's), counts checked.
restore: services
	@test -n "$(BACKUP)" || (echo "usage: make restore BACKUP=<backup folder> [TARGET=<database URL>]" && exit 2)
	$(BIN)/python manage.py restore_backup "$(BACKUP)" --create $(if $(TARGET),--database-url "$(TARGET)")
