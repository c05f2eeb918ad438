# Power Climate: `make run` to try it, `make test` to check it. See README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed
# The suite on up to four processes (pytest-xdist; each has its own test database):
# 345 s instead of 620 s on PostgreSQL on two cores. `make test PYTEST_ARGS=` runs it in one.
PYTEST_ARGS ?= -n auto --maxprocesses=4
SIZE ?= 100000
# make run: a local demo server; DEBUG on, SQLite unless DATABASE_URL says otherwise.
RUN_ENV := DJANGO_DEBUG=true

.PHONY: run test lint format install migrate demo bench browser-deps clean

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	PIP_CONSTRAINT=constraints.txt $(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(RUN_ENV) $(BIN)/python manage.py migrate --no-input

demo: migrate
	$(RUN_ENV) $(BIN)/python manage.py seed_demo

run: demo
	$(RUN_ENV) $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: install browser-deps
	$(RUN_ENV) $(BIN)/python manage.py check
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Chromium for the browser tests (Debian's package; Playwright never downloads a browser).
browser-deps:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# Needs the local PostgreSQL; wrk (Debian's package) drives the submission load.
bench: install
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
	$(BIN)/python bench/run.py --size $(SIZE)

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache
