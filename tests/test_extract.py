"""`tracker extract`: articles -> a draft CSV that `tracker ingest` loads as written, measured
on the seed articles against the figures shipped from them."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.conftest import PROJECT, db_rows, invoke
from tracker.units import fits, parse_unit

SEEDS = PROJECT.parent / "shared" / "seeds"
SHIPPED = PROJECT / "data" / "observations" / "seed_articles.csv"


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _extract(db: Path, *args: str | Path) -> list[dict[str, str]]:
    result = invoke("extract", *args, db=db)
    assert result.exit_code == 0, result.output
    header = "indicator,initiative,geography,period,value,unit,source,note,qualifier,confidence"
    return _rows(result.stdout[result.stdout.index(header) :])


def _same_figure(row: dict[str, str], value: str, unit: str, period: str) -> bool:
    given, wanted = parse_unit(row["unit"]), parse_unit(unit)
    if given is None or wanted is None or not (fits(given, wanted) or fits(wanted, given)):
        return False
    scaled = float(row["value"]) * given.factor_to(wanted)
    return (
        abs(scaled - float(value)) < 1e-9 * max(1.0, abs(float(value))) and row["period"] == period
    )


def test_seed_articles_recall_and_precision(tracker_db: Path) -> None:
    # "keep": a proposal an analyst would keep is one that matches a shipped figure, or a
    # figure of a known indicator (one indicator, not 'a or b') with a value, unit and period.
    shipped = _rows(SHIPPED.read_text(encoding="utf-8"))
    proposed = [row for seed in sorted(SEEDS.glob("*.txt")) for row in _extract(tracker_db, seed)]
    found = [
        s for s in shipped
        if any(_same_figure(r, s["value"], s["unit"], s["period"]) for r in proposed)
    ]  # fmt: skip
    indicators = {p.stem for p in (PROJECT / "indicators").glob("*.toml")}
    kept = [
        r for r in proposed
        if any(_same_figure(r, s["value"], s["unit"], s["period"]) for s in shipped)
        or (r["indicator"] in indicators and r["value"] and r["unit"] and r["period"])
    ]  # fmt: skip
    recall, precision = len(found) / len(shipped), len(kept) / len(proposed)
    print(
        f"\nseed articles: recall {len(found)}/{len(shipped)} = {recall:.2f}; precision "
        f"{len(kept)}/{len(proposed)} = {precision:.2f}"
    )
    missed = [s for s in shipped if s not in found]
    assert recall >= 0.9, missed
    assert precision >= 0.75, [r for r in proposed if r not in kept]


def test_a_draft_loads_with_ingest_as_written(tracker_db: Path, tmp_path: Path) -> None:
    draft = tmp_path / "draft.csv"
    seed = SEEDS / "003_71f1ebab383208d9.txt"
    result = invoke("extract", seed, "--published", "2025-05-20", "--title", "CGTN on Central "
                    "Asia", "--out", draft, db=tracker_db)  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = _rows(draft.read_text(encoding="utf-8"))
    assert [(r["indicator"], r["geography"], r["period"], r["value"], r["unit"]) for r in rows] == [
        ("trade_central_asia", "central-asia", "2024", "94.8", "USD bn")
    ]
    assert "'$100 billion': looked forward to ('on track to')" in result.stderr
    loaded = invoke("ingest", draft, db=tracker_db)
    assert loaded.exit_code == 0, loaded.output
    sources = db_rows(
        tracker_db,
        "SELECT s.title, o.note FROM observations o JOIN sources s ON s.id = o.source "
        "WHERE o.indicator = 'trade_central_asia' AND s.title LIKE 'CGTN on Central Asia%'",
    )
    assert sources == [
        ("CGTN on Central Asia, published 2025-05-20", rows[0]["note"]),
    ]


ARTICLE_MD = """# Gateway money flows to Kazakhstan

*Published 3 March 2025*

In the first half of 2024, Global Gateway partners mobilised €2.5 billion for transport in
Kazakhstan, officials said. China's Belt and Road Initiative signed 25 new deals worth
$3.1bn in Uzbekistan last year. <script>alert("$9 billion")</script>

The U.S. says it will invest $5 billion by 2030.
"""

ARTICLE_HTML = """<html><head><title>BRI note</title><style>p {content: "$7 billion"}</style>
<meta property="article:published_time" content="2025-10-02T08:00:00Z"></head>
<body><nav>Home | $1 billion deals</nav><h1>Belt and Road deals so far</h1>
<p>Belt and Road deals worth more than $40 billion were signed so far this year, up from
the U.S. and EU's smaller totals.</p>
<script>var x = "$8 billion of financing";</script></body></html>"""


def test_markdown_and_html_articles_are_read_as_text(tracker_db: Path, tmp_path: Path) -> None:
    md = tmp_path / "article.md"
    md.write_text(ARTICLE_MD, encoding="utf-8")
    rows = _extract(tracker_db, md, "--published", "3 March 2025")
    cells = [(r["indicator"], r["initiative"], r["geography"], r["period"], r["value"], r["unit"])
             for r in rows]  # fmt: skip
    assert cells == [
        ("financing", "GG", "KAZ", "2024-H1", "2.5", "EUR bn"),
        ("new_deals", "BRI", "UZB", "2024", "25", "deals"),
        ("new_deal_value", "BRI", "UZB", "2024", "3.1", "USD bn"),
    ]
    assert all(
        r["source"] == "Gateway money flows to Kazakhstan, published 2025-03-03" for r in rows
    )
    html = tmp_path / "article.html"
    html.write_text(ARTICLE_HTML, encoding="utf-8")
    rows = _extract(tracker_db, html)
    # a flow 'so far this year' is the year, at least; scripts, styles and nav are not text
    assert [(r["indicator"], r["period"], r["value"], r["qualifier"]) for r in rows] == [
        ("new_deal_value", "2025", "40", "more than")
    ]


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (None, [], "no such file"),
        (lambda p: p.write_bytes(b"%PDF-1.4\x00\x01\x02"), [], "a binary file"),
        (lambda p: p.write_text("  \n\n", encoding="utf-8"), [], "the article is empty"),
        (lambda p: p.write_bytes(b"caf\xe9 $5 billion"), [], "is not UTF-8"),
        (
            lambda p: p.write_text("BRI: $5 billion.", encoding="utf-8"),
            ["--published", "05/06/2025"],
            "--published: found '05/06/2025', not a date",
        ),
    ],
    ids=["missing", "binary", "empty", "latin-1", "ambiguous-date"],
)
def test_bad_input_exits_2_with_one_paragraph_and_writes_nothing(
    tracker_db: Path, tmp_path: Path, make: object, args: list[str], message: str
) -> None:
    article = tmp_path / "article.txt"
    if callable(make):
        make(article)
    out = tmp_path / "draft.csv"
    result = invoke("extract", article, *args, "--out", out, db=tracker_db)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_an_existing_output_is_kept_without_force(tracker_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "draft.csv"
    out.write_text("mine\n", encoding="utf-8")
    seed = SEEDS / "000_eda855c11ebc8c3d.txt"
    result = invoke("extract", seed, "--out", out, db=tracker_db)
    assert result.exit_code == 2 and "exists" in result.stderr
    assert out.read_text(encoding="utf-8") == "mine\n"
    result = invoke("extract", seed, "--out", out, "--force", db=tracker_db)
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").startswith("indicator,initiative,geography")
