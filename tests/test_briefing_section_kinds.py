"""Section kinds of a briefing definition: one reader per kind, in one table that agrees
with models.SECTION_KINDS; every kind reads to its default title and indicators."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import PROJECT
from tracker.definitions import load_briefing
from tracker.definitions.briefings import SECTION_READERS
from tracker.errors import DefinitionError
from tracker.models import SECTION_KINDS

TEMPLATES = PROJECT / "templates"
EVERY_KIND = """title = "T"
audience = "A"
initiatives = ["BRI"]
geographies = ["WLD"]

[[sections]]
kind = "key_figures"
indicators = ["financing"]

[[sections]]
kind = "comparison"
indicators = ["financing", "new_deal_value"]

[[sections]]
kind = "targets"
indicators = ["financing"]
title = "Our targets"

[[sections]]
kind = "series"
[[sections.charts]]
indicator = "new_deals"

[[sections]]
kind = "changes"

[[sections]]
kind = "freshness"
indicators = ["new_deals"]
"""


def test_the_table_of_section_readers_holds_every_kind_in_order() -> None:
    assert tuple(SECTION_READERS) == SECTION_KINDS


def test_every_section_kind_reads_to_its_title_and_indicators(tmp_path: Path) -> None:
    path = tmp_path / "every-kind.toml"
    path.write_text(EVERY_KIND, encoding="utf-8")
    sections = load_briefing(path, TEMPLATES).sections
    every = ("financing", "new_deal_value", "new_deals")
    assert [(s.kind, s.title, s.indicators) for s in sections] == [
        ("key_figures", "Key figures", ("financing",)),
        ("comparison", "Comparison", ("financing", "new_deal_value")),
        ("targets", "Our targets", ("financing",)),
        ("series", "Series", ("new_deals",)),
        ("changes", "What changed since the previous briefing", every),
        ("freshness", "Data freshness", ("new_deals",)),
        ("sources", "Sources", every),  # added: the file has no sources section
    ]
    assert [c.indicator for c in sections[3].charts] == ["new_deals"]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('kind = "targets"', "key 'sections.0.indicators': a targets section needs the list"),
        ('kind = "sources"\ncharts = [{indicator = "financing"}]',
         "key 'sections.0.charts': only a series section has charts."),
        ('kind = "series"\nindicators = ["financing"]',
         "key 'sections.0.charts': a series section lists its charts"),
        ('kind = "sourcez"', "expected one of key_messages, key_figures, comparison, targets, "
         "series, changes, freshness, sources. Did you mean 'sources'?"),
    ],
)  # fmt: skip
def test_a_section_its_kind_refuses_is_named_by_key(
    tmp_path: Path, section: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(EVERY_KIND.split("[[sections]]")[0] + "[[sections]]\n" + section + "\n")
    with pytest.raises(DefinitionError, match=re.escape(message)):
        load_briefing(path, TEMPLATES)
