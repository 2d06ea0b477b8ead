"""The command line starts without the heavy libraries it does not use: each command runs
in-process in a fresh interpreter, which then lists every module it imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Runs `tracker ARGS...` in-process, then prints the exit code and sorted(sys.modules) as
# the last line of stdout.
LIST_MODULES = """
import json, sys
from tracker.cli.app import app
try:
    app(sys.argv[1:], prog_name="tracker", standalone_mode=False)
    code = 0
except SystemExit as stop:
    code = stop.code
print()
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""
# pydantic: typer 0.29 and later validate every parameter with it (see pyproject.toml).
NEVER_AT_START = ("altair", "polars", "weasyprint", "pydantic", "country_converter", "pandas")
NOT_FOR_THESE = ("vl_convert", "apscheduler", "jinja2", "jsonschema", "pyarrow", "pint")


def _run_and_list_modules(*args: str) -> tuple[str, set[str]]:
    done = subprocess.run([sys.executable, "-c", LIST_MODULES, *args], capture_output=True,
                          text=True, check=True, timeout=120)  # fmt: skip
    *printed, last = done.stdout.rstrip("\n").split("\n")
    report = json.loads(last)
    assert report["code"] in (0, None), done.stdout + done.stderr
    return "\n".join(printed), {name.split(".")[0] for name in report["modules"]}


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


def test_the_check_sees_a_heavy_import_when_a_command_makes_one(tracker_db: Path) -> None:
    # `tracker reports` lists briefings through the briefing package, which needs polars:
    # the listing above would see it.
    _, modules = _run_and_list_modules("--db", str(tracker_db), "reports")
    assert "polars" in modules
