"""Every text from data or files is printed as it is: Rich markup (`[/]`, `[bold]`,
`[link=...]`), emoji codes and the like in notes, sources, titles, file names and paths are
never read as markup, never swallowed and never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import LONG_HEADER, PROJECT, invoke

MARKUP = "[/] [/red] [bold]x[/bold] [link=http://x]y[/link] :thumbs_up:"
NOTE = "note [/red] here [bold]x[/bold]"
# A file or folder name cannot hold '/', so no closing tags there.
FOLDER = "[bold]h[link=x]o[red]me"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder whose path reads as markup, with the shipped briefing retitled."""
    home = tmp_path / FOLDER
    for folder in ("indicators", "templates"):
        shutil.copytree(PROJECT / folder, home / folder)
    (home / "reports").mkdir()
    text = (PROJECT / "reports" / "programmes-compared.toml").read_text(encoding="utf-8")
    text = text.replace('title = "Infrastructure', f'title = "{MARKUP} Infrastructure', 1)
    (home / "reports" / "programmes-compared.toml").write_text(text, encoding="utf-8")
    text = text.replace('timezone = "Europe/Brussels"', 'timezone = "[/]Mars[bold]"')
    (home / "reports" / "elsewhere.toml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("TRACKER_HOME", str(home))
    for name in ("HOST", "PORT", "TLS", "USER", "PASSWORD", "FROM"):
        monkeypatch.delenv(f"TRACKER_SMTP_{name}", raising=False)
    return home


def _csv(path: Path, rows: list[list[str]]) -> Path:
    lines = [",".join(LONG_HEADER)] + [",".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _flat(output: str) -> str:
    return " ".join(output.split())


def test_markup_in_data_files_and_paths_is_printed_literally(
    tracker_db: Path, home: Path, tmp_path: Path
) -> None:
    row = ["financing", "GG", "WLD", "2031", "5", "EUR bn", MARKUP, NOTE]
    data = _csv(home / "[bold]notes.csv", [row, row])  # the repeat makes a warning

    ingested = invoke("ingest", data, db=tracker_db)
    assert ingested.exit_code == 0, ingested.output
    assert f"{data}: 1 row(s) repeat a point" in _flat(ingested.output)

    listed = invoke("indicators", db=tracker_db)
    assert listed.exit_code == 0, listed.output
    assert "EUR 5 bn" in listed.output

    shown = invoke("indicators", "show", "financing", db=tracker_db)
    assert shown.exit_code == 0, shown.output
    assert MARKUP in shown.output
    assert shown.output.startswith("financing: ")

    reports = invoke("reports", db=tracker_db)
    assert reports.exit_code == 0, reports.output
    assert f"programmes-compared: {MARKUP} Infrastructure" in reports.output

    brief = invoke("brief", "programmes-compared", "--format", "pdf", "--publish",
                   db=tracker_db)  # fmt: skip
    assert brief.exit_code == 0, brief.output
    assert str(home / "reports" / "out" / "programmes-compared") in _flat(brief.output)

    scheduled = invoke("schedule", "list", db=tracker_db)
    assert scheduled.exit_code == 0, scheduled.output
    flat = _flat(scheduled.output)
    assert "elsewhere.toml" in flat and "[/]Mars[bold]" in flat
    assert "programmes-compared" in flat

    delivered = invoke("deliver", "programmes-compared", db=tracker_db)
    assert delivered.exit_code == 1  # no SMTP settings: the outbox only
    assert str(home / "reports" / "outbox") in _flat(delivered.output)
    for result in (ingested, listed, shown, reports, brief, scheduled, delivered):
        assert "Traceback" not in result.output


def test_errors_quoting_data_print_it_literally(tracker_db: Path, home: Path) -> None:
    bad = _csv(home / "[bold]bad.csv", [["financing", "GG", "WLD", "2031", "[/red]", "", "", ""]])
    refused = invoke("ingest", bad, db=tracker_db)
    assert refused.exit_code == 2
    assert f"{bad}:2: column 'value': found '[/red]'" in _flat(refused.output)

    unknown = invoke("indicators", "show", "[/]x[bold]", db=tracker_db)
    assert unknown.exit_code == 2
    assert "Unknown indicator '[/]x[bold]'" in unknown.output

    missing = invoke("brief", "[/]", db=tracker_db)
    assert missing.exit_code == 2 and "Report name '[/]' refused" in _flat(missing.output)
    for result in (refused, unknown, missing):
        assert "Traceback" not in result.output
