# Two commands do all the set-up on a fresh clone:
#   make demo   builds data/tracker.duckdb from indicators/ and data/, then renders a briefing
#   make test   runs the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
TRACKER := $(VENV)/bin/tracker
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(TRACKER) init
	$(TRACKER) ingest data/observations/*.csv
	$(TRACKER) import aiddata data/imports/aiddata-gcdf3-malaysia-extract.csv \
		--map data/imports/aiddata-extract-demo.toml
	$(TRACKER) indicators
	$(TRACKER) brief

test: $(STAMP)
	bash .ci/system-packages
	$(VENV)/bin/pytest -q

test-slow: $(STAMP)
	$(VENV)/bin/pytest -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check tracker tests
	$(VENV)/bin/ruff format --check tracker tests
	$(VENV)/bin/mypy

# Every benchmark in one run (several minutes; not run by CI): one table, see
# tests/benchmarks/RESULTS.md. BENCH_ARGS='--only ingest render' runs some rows.
bench: $(STAMP)
	$(PY) -m tests.benchmarks.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) reports/out reports/drafts reports/outbox data/tracker.duckdb data/tracker.duckdb.wal \
		data/tracker.runs.duckdb data/tracker.runs.duckdb.wal
