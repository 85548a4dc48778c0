# Vigil: the two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_DIR ?= var/demo
# The suite runs in one process per core (pytest-xdist), a test file to a process so that
# a file's shared fixtures are built once; TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= auto
XDIST = -n $(TEST_WORKERS) --dist loadfile

.PHONY: demo test lint bench bench-quick install clean

# The versions the suite passed with: `make lock` refreshes the file (see "Development").
LOCK ?= requirements.lock
EXTRAS ?= dev

.PHONY: lock test-latest

$(BIN)/vigil: pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --constraint $(LOCK) pip
	$(BIN)/pip install --quiet --constraint $(LOCK) -e '.[$(EXTRAS)]'
	touch $(BIN)/vigil

install: $(BIN)/vigil

# Resolve the open bounds of pyproject.toml afresh in a scratch environment and record
# every version it installed. Run `make lock && make test`, then commit the lock.
lock:
	rm -rf build/lock-venv
	$(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/pip install --quiet --upgrade pip
	build/lock-venv/bin/pip install --quiet -e '.[$(EXTRAS)]'
	$(PYTHON) tools/lock.py write build/lock-venv/bin/python > $(LOCK)
	rm -rf build/lock-venv
	@echo "wrote $(LOCK): now run make test and commit it"

# The tests that touch the data engines (DuckDB, pyarrow, pandas, Bokeh, Panel), run
# against the newest releases the open bounds allow, so a new upstream release shows up
# as a named failure before a user meets it.
LATEST_VENV ?= build/latest-venv
LATEST_TESTS ?= tests/explorer tests/compute tests/plots tests/demo/test_catalog.py tests/server/web tests/butler

test-latest:
	test -x $(LATEST_VENV)/bin/python || $(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/pip install --quiet --upgrade pip
	$(LATEST_VENV)/bin/pip install --quiet --upgrade --upgrade-strategy eager -e '.[$(EXTRAS)]'
	$(PYTHON) tools/lock.py diff $(LOCK) $(LATEST_VENV)/bin/python
	$(LATEST_VENV)/bin/python -m pytest -p no:cacheprovider $(XDIST) $(LATEST_TESTS) $(PYTEST_ARGS)

demo: install
	$(BIN)/vigil demo --dir $(DEMO_DIR) --serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

BENCHES ?= sdk ingest changepoints pages explorer butler load crash fuzz monitor

bench: install
	@for name in $(BENCHES); do \
		test -f bench/$$name.py || continue; \
		echo "== bench/$$name.py $(BENCH_ARGS)"; \
		$(BIN)/python bench/$$name.py $(BENCH_ARGS) || exit 1; \
	done

bench-quick:
	$(MAKE) bench BENCH_ARGS=--quick BENCHES="$(filter-out sdk,$(BENCHES))"
	$(BIN)/python bench/sdk.py

clean:
	rm -rf $(VENV) var build dist src/*.egg-info
