# Vigil: the two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_DIR ?= var/demo

.PHONY: demo test lint bench bench-quick install clean

$(BIN)/vigil: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/vigil

install: $(BIN)/vigil

demo: install
	$(BIN)/vigil demo --dir $(DEMO_DIR) --serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

BENCHES ?= sdk ingest changepoints pages explorer load crash fuzz monitor

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
