# MarkIt: `make run` starts the app on the embedded default (SQLite, local store,
# demo data); `make test` runs the lint, format and type checks, then the whole suite.
# All set up .venv first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
HOST   ?= 127.0.0.1  # `make run HOST=0.0.0.0` to serve the lab network
PORT   ?= 8501

.PHONY: run test test-postgres lint install install-dev demo bench clean-data

$(PY):
	$(PYTHON) -m venv $(VENV)

# uv resolves and installs the stack in seconds instead of minutes.
$(UV): | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv>=0.4,<1"

$(VENV)/.installed: requirements.txt | $(UV)
	$(UV) pip install --compile-bytecode --python $(PY) -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt requirements-serving.txt | $(UV)
	$(UV) pip install --compile-bytecode --python $(PY) -r requirements-dev.txt
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(PY) -m markit_core demo --if-empty

# bytecode of the app's own modules written ahead (with PYTHONDONTWRITEBYTECODE set, every
# process would otherwise compile them from source on its first page)
run: demo
	$(PY) -m compileall -q app.py markit_core ui pages
	$(VENV)/bin/streamlit run app.py --server.address $(HOST) --server.port $(PORT)

# ruff (lint + format check) over the tree, mypy over the core (config in pyproject.toml)
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy markit_core

# the whole suite on SQLite, then the core and export tests again on a real PostgreSQL
# started by the tests (one server, a database per test, created from a migrated template)
test: install-dev lint
	$(PY) -m compileall -q app.py markit_core ui pages tests
	$(PY) -m pytest
	$(MAKE) --no-print-directory test-postgres

PG_TESTS := tests/test_*.py tests/export

test-postgres: install-dev
	$(PY) -m pytest --backend postgres $(PG_TESTS)

bench: install-dev
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean-data:
	rm -rf data/markit.db data/markit.db-* data/store data/cache
