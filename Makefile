# The two commands a newcomer needs (see README):
#   make demo   brings the whole system up with a demo line inspected live
#   make test   runs lint, types, migrations check and the test suite against PostgreSQL and Redis
# Both create the virtual environment first if it is missing or stale.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The tests use their own Redis database and a throw-away data directory, so they never touch
# a running demo. DATABASE_URL names the PostgreSQL database pytest-django derives test_* from.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/9

.PHONY: demo test lint venv

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	@mkdir -p var
	@test -s var/secret_key || $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(50))" > var/secret_key
	@if [ -z "$$SECRET_KEY" ]; then export SECRET_KEY_FILE=var/secret_key; fi; \
	  exec $(BIN)/python manage.py demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=true $(BIN)/mypy .
	DEBUG=true KENSA_DATA_DIR=$$(mktemp -d) $(BIN)/python manage.py makemigrations --check --dry-run

test: lint
	@data_dir=$$(mktemp -d); \
	  SECRET_KEY=kensa-tests-only DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} \
	  REDIS_URL=$(TEST_REDIS_URL) KENSA_DATA_DIR=$$data_dir \
	  $(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; rm -rf $$data_dir; exit $$status
