"""`--help` shows every option's default note: Rich reads `[...]` as markup and drops what it
cannot style, so each `[default: ...]` in a help text must be escaped (`\\[default: ...]`)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PROJECT, invoke

SOURCES = sorted((PROJECT / "tracker" / "cli").glob("*.py"))


def test_no_help_text_has_an_unescaped_default_note() -> None:
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(?<!\\\\)\[default:", text), path


@pytest.mark.parametrize(
    ("command", "note"),
    [
        (["--help"], "[default:"),
        (["add", "--help"], "[default: the indicator's]"),
        (["ingest", "--help"], "[default: ',' or, by the header"),
        (["template", "--help"], "[default: standard output]"),
        (["sql", "--help"], "[default: TRACKER_SQL_TIMEOUT, 300]"),
    ],
)
def test_help_shows_the_default_notes(command: list[str], note: str) -> None:
    result = invoke(*command)
    assert result.exit_code == 0, result.output
    assert note in " ".join(result.output.replace("│", " ").split()), result.output
