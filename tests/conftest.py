"""Shared fixtures: real DuckDB files on disk, built through the real CLI."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tracker import settings
from tracker.cli import app

PROJECT = settings.PROJECT_ROOT
SHIPPED_OBSERVATIONS = sorted((PROJECT / "data" / "observations").glob("*.csv"))
CORPORA = PROJECT.parent / "shared" / "corpora"

Invoke = Callable[..., Result]


def invoke(*args: str | Path, db: Path | None = None, input: str | None = None) -> Result:
    """Run the real `tracker` command in-process; returns exit code and output."""
    argv = [str(a) for a in args]
    if db is not None:
        argv = ["--db", str(db), *argv]
    return CliRunner().invoke(app, argv, input=input, catch_exceptions=False)


@pytest.fixture(scope="session")
def shipped_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database built like `make demo` does, once per test session."""
    path = tmp_path_factory.mktemp("template") / "tracker.duckdb"
    result = invoke("init", db=path)
    assert result.exit_code == 0, result.output
    result = invoke("ingest", *SHIPPED_OBSERVATIONS, db=path)
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def tracker_db(shipped_db_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the shipped demo database for one test to change at will."""
    path = tmp_path / "tracker.duckdb"
    shutil.copyfile(shipped_db_template, path)
    return path


@pytest.fixture
def empty_db(tmp_path: Path) -> Path:
    """An initialised database (schema, reference tables, indicators) with no observations."""
    path = tmp_path / "empty.duckdb"
    result = invoke("init", db=path)
    assert result.exit_code == 0, result.output
    return path
