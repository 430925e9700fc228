# leads-flow: the two commands are `make demo` and `make test`.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
ROWS    ?= 1000000
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)

.PHONY: venv demo test test-unit test-fast bench bench-phone bench-incremental ui clean

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

venv: $(BIN)/.installed

## Run the DAG end to end on an embedded SQLite setup with generated leads, then print a summary.
demo: venv
	$(BIN)/python scripts/demo.py

## Unit, integration (MariaDB + SQLite), DAG and end-to-end backfill tests.
test: venv
	$(BIN)/python -m pytest -q

test-fast: venv
	$(BIN)/python -m pytest -q -m "not slow"

## Pipeline vs stock path vs server-side floor, on ROWS generated legacy rows in MariaDB.
bench: venv
	$(BIN)/python benchmarks/bench_pipeline.py --rows $(ROWS)

bench-phone: venv
	$(BIN)/python benchmarks/bench_phone.py

bench-incremental: venv
	$(BIN)/python benchmarks/bench_incremental.py

## The Airflow UI on http://127.0.0.1:8080 (airflow standalone, SQLite metadata under .demo/).
ui: venv
	$(BIN)/python scripts/demo.py --setup-only
	bash scripts/ui.sh

clean:
	rm -rf .demo .pytest_cache
