"""The command line starts without the heavy libraries it does not use: each command runs
in-process in a fresh interpreter, which then lists every module it imported."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT, db_rows, invoke

# Runs `tracker ARGS...` in-process, then prints the exit code and sorted(sys.modules) as
# the last line of stdout.
LIST_MODULES = """
import json, sys
from tracker.cli.app import app
try:
    # without standalone mode, a command's typer.Exit(2) comes back as the return value
    code = app(sys.argv[1:], prog_name="tracker", standalone_mode=False)
except SystemExit as stop:
    code = stop.code
print()
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""
# pydantic: typer 0.29 and later validate every parameter with it (see pyproject.toml).
NEVER_AT_START = ("altair", "polars", "weasyprint", "pydantic", "country_converter", "pandas")
NOT_FOR_THESE = ("vl_convert", "apscheduler", "jinja2", "jsonschema", "pyarrow", "pint")


def _run_and_list_modules(*args: str, exit_code: int = 0) -> tuple[str, set[str]]:
    done = subprocess.run([sys.executable, "-c", LIST_MODULES, *args], capture_output=True,
                          text=True, check=True, timeout=120)  # fmt: skip
    *printed, last = done.stdout.rstrip("\n").split("\n")
    report = json.loads(last)
    assert (report["code"] or 0) == exit_code, done.stdout + done.stderr
    modules = set(report["modules"])
    return "\n".join(printed) + done.stderr, modules | {name.split(".")[0] for name in modules}


@pytest.mark.parametrize(
    "args",
    [["--help"], ["sql", "select 1"], ["sql", "--format", "csv", "select 1"], ["indicators"]],
    ids=["help", "sql", "sql-csv", "indicators"],
)
def test_commands_start_without_altair_polars_or_weasyprint(
    args: list[str], tracker_db: Path
) -> None:
    printed, modules = _run_and_list_modules("--db", str(tracker_db), *args)
    assert "Usage" in printed or "1" in printed or "financing" in printed, printed
    heavy = sorted(modules & {*NEVER_AT_START, *NOT_FOR_THESE})
    assert heavy == [], f"`tracker {' '.join(args)}` imported {heavy}"


@pytest.mark.parametrize("args", [["sql", "select 1"], ["indicators"]], ids=["sql", "indicators"])
def test_a_command_imports_no_other_command_module(args: list[str], tracker_db: Path) -> None:
    _, modules = _run_and_list_modules("--db", str(tracker_db), *args)
    others = sorted(
        modules & {"tracker.cli.briefings", "tracker.cli.entry", "tracker.cli.schedule"}
    )
    assert others == [], f"`tracker {' '.join(args)}` imported {others}"
    assert "tracker.cli.data" in modules  # the check sees the command's own module


def test_the_check_sees_a_heavy_import_when_a_command_makes_one(tracker_db: Path) -> None:
    # `tracker reports` lists briefings through the briefing package, which needs polars:
    # the listing above would see it.
    _, modules = _run_and_list_modules("--db", str(tracker_db), "reports")
    assert "polars" in modules


ONE_ROW = (
    "indicator,initiative,geography,period,value,unit,source\n"
    "power_capacity,BRI,KAZ,2031,7,GW,Startup test (example citation)\n"
)


def _observations(db: Path) -> int:
    return int(str(db_rows(db, "SELECT count(*) FROM observations")[0][0]))


def test_an_ingest_with_unchanged_definitions_does_not_import_jsonschema(
    tracker_db: Path, tmp_path: Path
) -> None:
    csv = tmp_path / "one.csv"
    csv.write_text(ONE_ROW, encoding="utf-8")
    before = _observations(tracker_db)
    printed, modules = _run_and_list_modules("--db", str(tracker_db), "ingest", str(csv))
    assert "loaded 1 rows" in printed, printed
    assert _observations(tracker_db) == before + 1
    assert "jsonschema" not in modules


@pytest.mark.xfail(
    strict=True,
    reason="DuckDB 1.5.5 (pinned for the team store, issue 15) imports pandas, and with it "
    "numpy, to convert the first bound parameter of a process (`ele.is(pandas.NaT)`), and "
    "pyarrow (numpy again, and pandas through pyarrow.dataset) when an ingest registers its "
    "rows as an Arrow stream; DuckDB 2.0 does neither. Remove this mark when the pin moves on.",
)
def test_an_ingest_does_not_import_numpy(tracker_db: Path, tmp_path: Path) -> None:
    csv = tmp_path / "one.csv"
    csv.write_text(ONE_ROW, encoding="utf-8")
    printed, modules = _run_and_list_modules("--db", str(tracker_db), "ingest", str(csv))
    assert "loaded 1 rows" in printed, printed
    # a DECIMAL literal made from a Decimal object loaded numpy: ~0.1 s of every ingest
    assert "numpy" not in modules


@pytest.fixture
def home_with_definitions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the shipped indicators/ and data/reference/, TRACKER_HOME set."""
    home = tmp_path / "home"
    shutil.copytree(PROJECT / "indicators", home / "indicators")
    shutil.copytree(PROJECT / "data" / "reference", home / "data" / "reference")
    monkeypatch.setenv("TRACKER_HOME", str(home))
    return home


def test_a_changed_definition_is_validated_and_synced_before_an_ingest(
    home_with_definitions: Path, tmp_path: Path
) -> None:
    db = tmp_path / "t.duckdb"
    assert invoke("init", db=db).exit_code == 0
    csv = tmp_path / "one.csv"
    csv.write_text(ONE_ROW, encoding="utf-8")
    definition = home_with_definitions / "indicators" / "power_capacity.toml"
    text = definition.read_text(encoding="utf-8")
    definition.write_text(text.replace('name = "', 'name = "Renamed: ', 1), encoding="utf-8")
    printed, modules = _run_and_list_modules("--db", str(db), "ingest", str(csv))
    assert "loaded 1 rows" in printed, printed
    assert "jsonschema" in modules
    name = db_rows(db, "SELECT name FROM indicators WHERE id = 'power_capacity'")[0][0]
    assert str(name).startswith("Renamed: ")


def test_a_changed_definition_that_is_invalid_is_refused_and_nothing_is_loaded(
    home_with_definitions: Path, tmp_path: Path
) -> None:
    db = tmp_path / "t.duckdb"
    assert invoke("init", db=db).exit_code == 0
    digest = db_rows(db, "SELECT value FROM meta WHERE key = 'definitions_sha256'")
    csv = tmp_path / "one.csv"
    csv.write_text(ONE_ROW, encoding="utf-8")
    definition = home_with_definitions / "indicators" / "power_capacity.toml"
    valid = definition.read_bytes()
    definition.write_text(
        valid.decode("utf-8").replace('measure = "', 'measure = "sideways-', 1), encoding="utf-8"
    )
    printed, _ = _run_and_list_modules("--db", str(db), "ingest", str(csv), exit_code=2)
    assert f"{definition}: key 'measure': 'sideways-" in " ".join(printed.split()), printed
    assert "Traceback" not in printed
    assert _observations(db) == 0
    assert db_rows(db, "SELECT value FROM meta WHERE key = 'definitions_sha256'") == digest
    # The file as it was last synced: no longer checked again, and the row loads.
    definition.write_bytes(valid)
    printed, modules = _run_and_list_modules("--db", str(db), "ingest", str(csv))
    assert "loaded 1 rows" in printed, printed
    assert "jsonschema" not in modules
    assert _observations(db) == 1
