"""Benchmark (not a test): how long the shipped briefing takes to render, against the bare
pipeline, and with 1,000,000 synthetic observations in the store.

    .venv/bin/python -m tests.benchmarks.render_bench [--repeat N]

1. Ours: `tracker brief programmes-compared` end to end through our code (read-only data
   read, context, chart specs -> SVG, Jinja, WeasyPrint PDF, HTML, CSV, manifest, atomic
   writes, two run records). Bare: the same chart specs through vl-convert to SVG and the
   same final HTML through WeasyPrint, nothing else. Goal: ours / bare <= 1.2.
2. Ours again after adding 1,000,000 synthetic observations (source 'synthetic-benchmark',
   kind 'synthetic') on the shown indicators for country geographies the briefing does not
   show. Goal: with / without <= 1.3.

Each figure is the median of --repeat runs after one warm-up run; the two pipelines
compared take turns, so both see the same load on a shared machine. Work files go to
tests/benchmarks/work/ (git-ignored).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import vl_convert

from tests.benchmarks import synthetic
from tracker import briefing, definitions, settings, store
from tracker.briefing.build import build_briefing
from tracker.briefing.charts import VEGA_LITE_VERSION
from tracker.location import StoreLocation

REPORT = "programmes-compared"
WORK = Path(__file__).resolve().parent / "work" / "render"
SYNTHETIC_SOURCE = "synthetic-benchmark"
SYNTHETIC_ROWS = 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per figure")
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    db = WORK / "tracker.duckdb"
    _build_database(db)

    specs, html = _specs_and_html(db)
    ours, bare = _medians([lambda: _render(db), lambda: _bare(specs, html)], args.repeat)
    print(f"shipped data ({_count(db):,} observations), median of {args.repeat}:")
    print(f"  ours, end to end (PDF + HTML + CSV + manifest): {ours:6.3f} s")
    print(f"  bare (vl-convert {len(specs)} specs + WeasyPrint):     {bare:6.3f} s")
    print(f"  ratio ours / bare: {ours / bare:.2f}x (goal <= 1.2x)")

    big_db = WORK / "big.duckdb"
    synthetic.copy_database(db, big_db)
    _add_synthetic(big_db)
    small, big = _medians([lambda: _render(db), lambda: _render(big_db)], args.repeat)
    print(
        f"with {SYNTHETIC_ROWS:,} synthetic observations ({_count(big_db):,} in all), "
        f"median of {args.repeat}:"
    )
    print(f"  ours, end to end, shipped data only:    {small:6.3f} s")
    print(f"  ours, end to end, with synthetic rows:  {big:6.3f} s")
    print(f"  ratio with / without: {big / small:.2f}x (goal <= 1.3x)")


def _build_database(db: Path) -> None:
    """`tracker init` and `tracker ingest data/observations/*.csv`, as a user would."""
    tracker = Path(sys.executable).with_name("tracker")
    observations = sorted((settings.PROJECT_ROOT / "data" / "observations").glob("*.csv"))
    for command in (["init"], ["ingest", *map(str, observations)]):
        subprocess.run([str(tracker), "--db", str(db), *command], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip


def _render(db: StoreLocation) -> None:
    briefing.render_briefings(db, REPORT, out_root=WORK / "out")


def _specs_and_html(db: Path) -> tuple[list[dict[str, object]], str]:
    """The chart specs and final HTML of the shipped briefing, built by our code once."""
    definition = definitions.load_briefing(
        definitions.find_briefing(settings.reports_dir(), REPORT), settings.templates_dir()
    )
    now = store.utc_now()
    with store.connect(db, read_only=True) as conn:
        data = briefing.read_briefing(conn, definition, cutoff=now, briefing_date=now.date())
    built = build_briefing(definition, data, issue=1, as_of=None, generated_at=now)
    return list(built.specs.values()), briefing.render_html(definition.template, built)


def _bare(specs: list[dict[str, object]], html: str) -> None:
    """Only the two libraries: vl-convert for every chart, WeasyPrint for the page."""
    for spec in specs:
        vl_convert.vegalite_to_svg(spec, vl_version=VEGA_LITE_VERSION)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import weasyprint
    weasyprint.HTML(string=html).write_pdf()


def _add_synthetic(db: Path) -> None:
    """1,000,000 observations marked synthetic, on the shown indicators but only for
    country geographies the briefing does not show (it shows WLD and central-asia)."""
    with store.connect(db) as conn:
        indicators = store.query(conn, "SELECT id, dimension FROM indicators ORDER BY id")
        countries = store.query(
            conn, "SELECT id FROM geographies WHERE kind = 'country' ORDER BY id"
        )["id"].to_list()
        per_series = -(-SYNTHETIC_ROWS // (indicators.height * len(countries)))
        days = [date(1990, 1, 1) + timedelta(days=k) for k in range(per_series)]
        frame = (
            indicators.join(pl.DataFrame({"geography": countries}), how="cross")
            .join(pl.DataFrame({"period_start": days}), how="cross")
            .head(SYNTHETIC_ROWS)
            .with_row_index("n")
            .select(
                pl.col("id").alias("indicator"),
                pl.lit("BRI").alias("initiative"),
                "geography",
                pl.col("period_start").cast(pl.String).alias("period"),
                "period_start",
                pl.col("period_start").alias("period_end"),
                pl.lit(SYNTHETIC_SOURCE).alias("source"),
                (pl.col("n") % 997).cast(pl.Float64).alias("value"),
                pl.when(pl.col("dimension") == "money").then(pl.lit("USD")).alias("currency"),
                (pl.col("n") % 997).cast(pl.String).alias("value_as_given"),
                pl.lit("synthetic").alias("unit_as_given"),
                pl.lit("SYNTHETIC benchmark row, not real data").alias("note"),
                pl.lit(None, pl.String).alias("qualifier"),
            )
        )
        sources = pl.DataFrame(
            {
                "id": [SYNTHETIC_SOURCE],
                "title": ["SYNTHETIC rows for the render benchmark (not real data)"],
                "url": [None],
                "kind": ["synthetic"],
                "note": ["Generated by tests/benchmarks/render_bench.py."],
            },
            schema={c: pl.String for c in ("id", "title", "url", "kind", "note")},
        )
        with store.transaction(conn):
            store.write_batch(conn, frame, files=["render_bench synthetic"], sha256s=["-"],
                              new_sources=sources)  # fmt: skip
        conn.execute("CHECKPOINT")


def _count(db: Path) -> int:
    with store.connect(db, read_only=True) as conn:
        return int(store.query(conn, "SELECT count(*) AS n FROM observations")["n"][0])


def _medians(actions: list[Callable[[], None]], repeat: int) -> list[float]:
    """Median time of each action; the actions take turns so that both see the same load
    on a shared machine. One warm-up round first (JavaScript engine, fonts, caches)."""
    for action in actions:
        action()
    timings: list[list[float]] = [[] for _ in actions]
    for _ in range(repeat):
        for action, times in zip(actions, timings, strict=True):
            start = time.perf_counter()
            action()
            times.append(time.perf_counter() - start)
    return [statistics.median(times) for times in timings]


if __name__ == "__main__":
    main()
