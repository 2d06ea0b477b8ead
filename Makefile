# Two commands do all the set-up on a fresh clone:
#   make demo   builds data/tracker.duckdb from indicators/ and data/, then renders a briefing
#   make test   runs the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
TRACKER := $(VENV)/bin/tracker
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(TRACKER) init
	$(TRACKER) ingest data/observations/*.csv
	$(TRACKER) indicators
	$(TRACKER) brief

test: $(STAMP)
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check tracker tests
	$(VENV)/bin/ruff format --check tracker tests
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m tests.benchmarks.ingest_bench
	$(PY) -m tests.benchmarks.render_bench

clean:
	rm -rf $(VENV) reports/out data/tracker.duckdb data/tracker.duckdb.wal
