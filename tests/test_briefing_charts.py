"""Charts that read right, read from their Vega-Lite specs and from real renders: figures
of several geographies never stacked, a country and its region as two lines with a legend
and their names at the line ends, a series of one point as a figure box, axes in the
unit's noun, EUR and USD figures never on one axis."""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from tests.conftest import PROJECT, ingest_rows, invoke
from tracker import definitions, settings, store
from tracker.briefing import read_briefing, resolve
from tracker.briefing.build import build_briefing
from tracker.briefing.context import BuiltBriefing, Chart, SeriesSection

# Marks Vega-Lite stacks unless the quantitative channel says `stack: null`.
STACKED_BY_DEFAULT = {"bar", "area", "arc"}
TEST_SOURCE = "Synthetic test figures (example citation)"


def stacking_across_geographies(spec: Mapping[str, Any]) -> list[str]:
    """Each layer of `spec` that piles figures on one another: a mark Vega-Lite stacks
    (a bar, area or arc without `stack: null`, or any mark with stack turned on) where
    two rows of different geographies or colours share one position. [] when none does."""
    problems = []
    for number, (layer, encoding, rows) in enumerate(_units(spec, {}, spec["data"]["values"])):
        mark = layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
        for value_channel, position_channel in (("y", "x"), ("x", "y")):
            channel = encoding.get(value_channel, {})
            if channel.get("type") != "quantitative" or "aggregate" in channel:
                continue
            stack = channel.get("stack", "default")
            if stack in (None, False) or (stack == "default" and mark not in STACKED_BY_DEFAULT):
                continue
            position = [
                encoding[name]["field"]
                for name in (position_channel, f"{position_channel}Offset")
                if name in encoding and "field" in encoding[name]
            ]
            told_by = [f for f in ("geography", encoding.get("color", {}).get("field")) if f]
            groups: dict[tuple[Any, ...], set[tuple[Any, ...]]] = defaultdict(set)
            for row in rows:
                groups[tuple(row.get(f) for f in position)].add(tuple(row.get(f) for f in told_by))
            for where, series in groups.items():
                if len(series) > 1:
                    problems.append(
                        f"layer {number} ({mark}) stacks {sorted(map(str, series))} at {where}"
                    )
    return problems


def _units(
    spec: Mapping[str, Any], encoding: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
) -> Iterator[tuple[Mapping[str, Any], dict[str, Any], Sequence[Mapping[str, Any]]]]:
    """Every single-mark view of `spec` with the encoding and rows it inherits."""
    own_rows = spec.get("data", {}).get("values", rows)
    merged = {**encoding, **spec.get("encoding", {})}
    if "mark" in spec:
        yield spec, merged, own_rows
    for key in ("layer", "concat", "hconcat", "vconcat"):
        for child in spec.get(key, []):
            yield from _units(child, merged, own_rows)
    if "spec" in spec:
        yield from _units(spec["spec"], merged, own_rows)


def _built(db: Path, report: str, each: Sequence[str] = ()) -> list[BuiltBriefing]:
    """Every variant of `report` built by the real pipeline from `db` (data read, sections,
    chart specs and SVG), as `tracker brief` builds it."""
    path = definitions.find_briefing(settings.reports_dir(), report)
    definition = definitions.load_briefing(path, settings.templates_dir())
    now = store.utc_now()
    with store.connect(db, read_only=True) as conn:
        chosen = resolve(conn, definition, each=each)
        return [
            build_briefing(
                variant,
                read_briefing(conn, variant, cutoff=now, briefing_date=now.date()),
                issue=1,
                as_of=None,
                generated_at=datetime.now(),
            )
            for variant in chosen
        ]


def _charts(built: BuiltBriefing) -> list[Chart]:
    return [c for s in built.context.sections if isinstance(s, SeriesSection) for c in s.charts]


def _kazakhstan_trade(db: Path, folder: Path) -> None:
    """Kazakhstan's trade in 2023 and 2024 and Central Asia's in 2023 (2024, 94.8, ships)."""
    ingest_rows(db, folder, [
        ["trade_central_asia", "BRI", "KAZ", "2023", "41", "USD bn", TEST_SOURCE, ""],
        ["trade_central_asia", "BRI", "KAZ", "2024", "43.8", "USD bn", TEST_SOURCE, ""],
        ["trade_central_asia", "BRI", "central-asia", "2023", "89.4", "USD bn", TEST_SOURCE, ""],
    ])  # fmt: skip


# --- the check itself ----------------------------------------------------------------------

OLD_TRADE_CHART: dict[str, Any] = {  # the profile's trade chart before: one colour, stacked
    "data": {"values": [
        {"initiative": "BRI", "geography": "KAZ", "period": "2024", "value": 43.8},
        {"initiative": "BRI", "geography": "central-asia", "period": "2024", "value": 94.8},
    ]},
    "layer": [{"mark": {"type": "bar", "size": 64}, "encoding": {
        "x": {"field": "period", "type": "nominal"},
        "y": {"field": "value", "type": "quantitative"},
        "color": {"field": "initiative", "type": "nominal"},
    }}],
}  # fmt: skip


def test_the_stacking_check_finds_a_country_stacked_on_its_region() -> None:
    assert stacking_across_geographies(OLD_TRADE_CHART) == [
        "layer 0 (bar) stacks [\"('KAZ', 'BRI')\", \"('central-asia', 'BRI')\"] at ('2024',)"
    ]
    grouped = {
        **OLD_TRADE_CHART,
        "layer": [
            {
                **OLD_TRADE_CHART["layer"][0],
                "encoding": {
                    **OLD_TRADE_CHART["layer"][0]["encoding"],
                    "xOffset": {"field": "geography"},
                },
            }
        ],
    }
    unstacked = {
        **OLD_TRADE_CHART,
        "layer": [
            {
                **OLD_TRADE_CHART["layer"][0],
                "encoding": {
                    **OLD_TRADE_CHART["layer"][0]["encoding"],
                    "y": {"field": "value", "type": "quantitative", "stack": None},
                },
            }
        ],
    }
    as_lines = {**OLD_TRADE_CHART, "layer": [{**OLD_TRADE_CHART["layer"][0], "mark": "line"}]}
    forced = {
        **OLD_TRADE_CHART,
        "layer": [
            {
                **as_lines["layer"][0],
                "encoding": {
                    **OLD_TRADE_CHART["layer"][0]["encoding"],
                    "y": {"field": "value", "type": "quantitative", "stack": "zero"},
                },
            }
        ],
    }
    assert stacking_across_geographies(grouped) == []
    assert stacking_across_geographies(unstacked) == []
    assert stacking_across_geographies(as_lines) == []
    assert len(stacking_across_geographies(forced)) == 1  # fmt: skip


# --- every chart of the shipped briefings, and of several geographies ------------------------


def test_no_chart_of_the_shipped_briefings_stacks_figures(tracker_db: Path) -> None:
    built = [*_built(tracker_db, "programmes-compared"),
             *_built(tracker_db, "country-profile", each=["geography"])]  # fmt: skip
    assert len(built) == 6  # the programmes briefing and five Central Asian profiles
    specs = [spec for b in built for spec in b.specs.values()]
    assert len(specs) >= 5
    for spec in specs:
        assert stacking_across_geographies(spec) == []


def test_a_country_and_its_region_are_two_lines_with_a_legend_and_their_names_at_the_ends(
    tracker_db: Path, tmp_path: Path
) -> None:
    _kazakhstan_trade(tracker_db, tmp_path)
    (kazakhstan,) = _built(tracker_db, "country-profile")  # the default variant, KAZ
    (trade,) = [c for c in _charts(kazakhstan) if c.title.startswith("Trade, by year")]
    spec = kazakhstan.specs[trade.id]
    assert stacking_across_geographies(spec) == []
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks[0] == "line" and "bar" not in marks
    line = spec["layer"][0]["encoding"]
    assert line["color"]["field"] == "series" and line["color"]["legend"] is not None
    assert line["color"]["scale"]["domain"] == ["Kazakhstan", "Central Asia"]
    assert line["y"]["title"] == "USD bn"
    ends = [
        layer for layer in spec["layer"]
        if layer["encoding"].get("text", {}).get("field") == "end_label"
    ]  # fmt: skip
    assert len(ends) == 1
    named = {(r["geography"], r["period"], r["end_label"]) for r in spec["data"]["values"]}
    assert named == {
        ("KAZ", "2023", None), ("KAZ", "2024", "Kazakhstan"),
        ("central-asia", "2023", None), ("central-asia", "2024", "Central Asia"),
    }  # fmt: skip
    # The real render: the SVG writes both names, the PDF says whose target the line is.
    result = invoke("brief", "country-profile", "--out", tmp_path / "out", db=tracker_db)
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "out" / "country-profile").glob("*/geography-KAZ")
    html = (folder / "country-profile--geography-KAZ.html").read_text(encoding="utf-8")
    svg = re.search(rf'<figure class="chart" id="{trade.id}">.*?</figure>', html, re.S)
    assert svg is not None
    svg_text = re.findall(r"<text[^>]*>([^<]*)</text>", svg.group(0))
    assert svg_text.count("Kazakhstan") == 2 and svg_text.count("Central Asia") == 2  # legend, end
    assert {"41", "43.8", "89.4", "94.8 (a)", "USD bn"} <= set(svg_text)
    pdf = PdfReader(folder / "country-profile--geography-KAZ.pdf")
    text = " ".join(" ".join(page.extract_text().split()) for page in pdf.pages)
    assert "Target for Central Asia: USD 100 bn by Dec 2025" in text


def test_a_series_of_one_point_is_a_figure_box_not_a_one_bar_chart(
    tracker_db: Path, tmp_path: Path
) -> None:
    (programmes,) = _built(tracker_db, "programmes-compared")
    boxes = {c.title: c for c in _charts(programmes) if c.figures}
    capacity = boxes[
        "Installed capacity of overseas power projects completed by Chinese firms (GW)"
    ]
    assert capacity.svg is None and capacity.id not in programmes.specs
    (figure,) = capacity.figures
    assert (figure.where, figure.value, figure.period) == ("BRI, World", "156 GW", "2025-07-14")
    assert figure.letter == "a" and figure.footnotes and figure.secondary
    assert "China–Central Asia trade, by year (USD bn)" in boxes
    drawn = [c for c in _charts(programmes) if c.svg is not None]
    assert len(drawn) == 3 and not any(c.figures for c in drawn)
    # Read back from the PDF: the figure with its period and source tag, no axis.
    result = invoke("brief", "programmes-compared", "--out", tmp_path, db=tracker_db)
    assert result.exit_code == 0, result.output
    (pdf_path,) = tmp_path.glob("programmes-compared/*/programmes-compared.pdf")
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(pdf_path).pages)
    number = figure.footnotes[0]
    assert f"BRI, World 156 GW (a)[{number}] 2025-07-14 secondary source Unit: GW." in text


@pytest.mark.parametrize(
    ("title", "axis"),
    [
        ("New BRI deals signed, by period (count)", "deals"),
        ("Value of new BRI deals (engagement), by period (USD bn)", "USD bn"),
        ("Capacity in BRI green-energy deals, by period (GW)", "GW"),
    ],
)
def test_an_axis_carries_the_units_noun(tracker_db: Path, title: str, axis: str) -> None:
    (programmes,) = _built(tracker_db, "programmes-compared")
    (chart,) = [c for c in _charts(programmes) if c.title == title]
    y = programmes.specs[chart.id]["layer"][0]["encoding"]["y"]
    assert y["title"] == axis
    assert chart.caption.startswith(f"Unit: {axis}.")


FINANCING_CHART = """
title = "Financing"
audience = "Test"
cadence = "monthly"
formats = ["html"]
initiatives = ["PGII", "GG"]
geographies = ["WLD"]

[[sections]]
kind = "series"
title = "Over time"

[[sections.charts]]
indicator = "financing"
title = "Financing mobilised"
initiatives = ["PGII", "GG"]
geographies = ["WLD"]
"""


def test_eur_and_usd_figures_never_share_an_axis(
    tracker_db: Path, custom_home: Path, tmp_path: Path
) -> None:
    shutil.copytree(PROJECT / "indicators", custom_home / "indicators")
    (custom_home / "reports" / "financing.toml").write_text(FINANCING_CHART, encoding="utf-8")
    ingest_rows(tracker_db, tmp_path, [
        ["financing", "PGII", "WLD", "2023", "30", "USD bn", TEST_SOURCE, ""],
    ])  # fmt: skip
    (built,) = _built(tracker_db, "financing")
    charts = {c.title: c for c in _charts(built)}
    assert set(charts) == {
        "Financing mobilised: figures in EUR",
        "Financing mobilised: figures in USD",
    }
    for currency, chart in (("EUR", charts["Financing mobilised: figures in EUR"]),
                            ("USD", charts["Financing mobilised: figures in USD"])):  # fmt: skip
        spec = built.specs[chart.id]
        assert spec["layer"][0]["encoding"]["y"]["title"] == f"{currency} bn"
        assert {row["initiative"] for row in spec["data"]["values"]} == {
            "EUR": {"GG"},
            "USD": {"PGII"},
        }[currency]
        assert chart.caption.startswith(f"Unit: {currency} bn.")
        assert stacking_across_geographies(spec) == []
