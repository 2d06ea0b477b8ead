"""Briefing definitions (reports/*.toml) and what briefings read from the store."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.conftest import PROJECT
from tracker import definitions
from tracker.errors import DefinitionError, InputError, UnknownNameError
from tracker.models import SECTION_KINDS

REPORTS = PROJECT / "reports"
TEMPLATES = PROJECT / "templates"


def _write(folder: Path, text: str, name: str = "b") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


HEAD = 'title = "T"\naudience = "A"\ninitiatives = ["BRI"]\ngeographies = ["WLD"]\n'


def test_every_shipped_definition_loads_and_names_only_known_things(tracker_db: Path) -> None:
    with duckdb.connect(str(tracker_db), read_only=True) as conn:
        known = {
            kind: {row[0] for row in conn.execute(f"SELECT id FROM {table}").fetchall()}
            for kind, table in (("indicators", "indicators"), ("initiatives", "initiatives"),
                                ("geographies", "geographies"))
        }  # fmt: skip
    found = definitions.load_briefings(REPORTS, TEMPLATES)
    assert "programmes-compared" in {d.name for d in found}
    for definition in found:
        definitions.check_briefing_names(definition, **known)
        assert definition.schedule is not None and definition.schedule.recipients
        assert {s.kind for s in definition.sections} <= set(SECTION_KINDS)
        for section in definition.sections:
            assert (TEMPLATES / "partials" / f"{section.kind}.html").is_file()


def test_the_shipped_briefing_has_every_section_the_issue_asks_for() -> None:
    definition = definitions.load_briefing(REPORTS / "programmes-compared.toml", TEMPLATES)
    assert definition.title == "Infrastructure programmes compared: BRI, PGII, Global Gateway"
    assert definition.cadence == "monthly"
    assert [s.kind for s in definition.sections] == [
        "key_messages", "key_figures", "comparison", "targets", "series", "changes",
        "freshness", "sources",
    ]  # fmt: skip
    comparison = definition.sections[2]
    assert comparison.initiatives == ("BRI", "PGII", "GG")
    charts = {c.indicator for c in definition.sections[4].charts}
    assert {"new_deals", "new_deal_value", "power_capacity", "trade_central_asia"} <= charts
    # changes and freshness cover everything the briefing shows
    assert set(definition.sections[5].indicators) == set(definition.indicators)
    assert definition.window_start == date(2013, 1, 1) and definition.window_end is None


def test_a_sources_section_is_added_when_the_definition_lists_none(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD + '[[sections]]\nkind = "key_figures"\nindicators = ["x"]\n')
    definition = definitions.load_briefing(path, TEMPLATES)
    assert [s.kind for s in definition.sections] == ["key_figures", "sources"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "key '(top level)': 'sections' is a required property"),
        ('[[sections]]\nkind = "key_figures"\n', "key 'sections.0.indicators': a key_figures"),
        ('[[sections]]\nkind = "series"\nindicators = ["a"]\n', "key 'sections.0.charts'"),
        (
            '[[sections]]\nkind = "targets"\nindicators = ["a"]\ncolour = "red"\n',
            "key 'sections.0': Additional properties are not allowed ('colour' was unexpected)",
        ),
        (
            '[[sections]]\nkind = "series"\n[[sections.charts]]\nindicator = "a"\nmark = "pie"\n',
            "key 'sections.0.charts.0.mark': found 'pie', expected one of bar, line",
        ),
        (
            '[schedule]\ncron = "every day"\ntimezone = "UTC"\n[[sections]]\nkind = "changes"\n',
            "key 'schedule.cron'",
        ),
        ("title = [", "not valid TOML"),
    ],
)
def test_definition_errors_name_the_file_and_the_key(
    tmp_path: Path, body: str, message: str
) -> None:
    path = _write(tmp_path, HEAD + body if body != "title = [" else body)
    with pytest.raises(DefinitionError) as caught:
        definitions.load_briefing(path, TEMPLATES)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_find_briefing_refuses_paths_and_suggests_close_names() -> None:
    assert definitions.find_briefing(REPORTS, "programmes-compared").name.endswith(".toml")
    with pytest.raises(UnknownNameError, match="Did you mean 'programmes-compared'"):
        definitions.find_briefing(REPORTS, "programes-compared")
    for name in ("../x", "x/y", "x\0", "X", ""):
        with pytest.raises(InputError, match="refused"):
            definitions.find_briefing(REPORTS, name)


def test_as_of_macros_match_the_current_views(tracker_db: Path) -> None:
    """The views read the current data (target_progress through latest_points); the macros
    at a past-or-present moment read the vintages: for 'now' both must give the same rows."""
    with duckdb.connect(str(tracker_db), read_only=True) as conn:
        pairs = (
            ("SELECT * FROM comparison_usd",
             "SELECT * FROM comparison_usd_as_of(now()::TIMESTAMP)"),
            ("SELECT * FROM target_progress",
             "SELECT * FROM target_progress_as_of(now()::TIMESTAMP, current_date)"),
        )  # fmt: skip
        for view, macro in pairs:
            expected = conn.execute(view + " ORDER BY ALL").fetchall()
            assert expected, view
            assert conn.execute(macro + " ORDER BY ALL").fetchall() == expected


def test_freshness_rules_cover_every_indicator_frequency(tracker_db: Path) -> None:
    with duckdb.connect(str(tracker_db), read_only=True) as conn:
        missing = conn.execute(
            "SELECT DISTINCT frequency FROM indicators "
            "WHERE frequency NOT IN (SELECT frequency FROM freshness_rules)"
        ).fetchall()
    assert missing == []
