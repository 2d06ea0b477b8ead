"""Synthetic data for the benchmarks, written straight into a copy of the demo database
with DuckDB SQL (range()), not through CSV, so that 10,000,000 rows take seconds.

Every row says it is synthetic: source 'synthetic-benchmark-*' of kind 'synthetic', unit
'synthetic', a note 'SYNTHETIC benchmark row, not real data', its own batch. Not a test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from tracker import settings, store

NOTE = "SYNTHETIC benchmark row, not real data"

# One batch and one source for the rows added by one call.
_BATCH = """
INSERT INTO batches (files, sha256, rows_read, rows_new, rows_revised, rows_unchanged,
                     recorded_at)
VALUES ([$1], ['-'], $2, $2, 0, 0, $3)
RETURNING id
"""
_SOURCE = """
INSERT OR REPLACE INTO sources (id, title, publisher, kind, note)
VALUES ($1, $2, 'tests/benchmarks', 'synthetic', $3)
"""

# `rows` observations on every indicator, BRI/PGII/GG/CHN_ODF/USA and the countries
# (kind 'country') that are not in $5, one daily period after another per series
# (1990-01-01 on): about 536 points in each of 18,675 series for 10,000,000 rows. Values
# in the indicator's unit (USD for money); nothing the shipped briefing shows (WLD and
# regions) is touched, so it renders the same pages.
MANY_OBSERVATIONS = """
INSERT INTO observations (indicator, initiative, geography, period, period_start, period_end,
    source, value, currency, value_as_given, unit_as_given, note, batch, recorded_at,
    superseded_at)
WITH ind AS (SELECT id, dimension, row_number() OVER (ORDER BY id) - 1 AS k FROM indicators
             WHERE NOT context),
     ini AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM initiatives
             WHERE id <> 'CONTEXT'),
     geo AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM geographies
             WHERE kind = 'country' AND NOT list_contains($5, id)),
     sizes AS (SELECT (SELECT count(*) FROM ind) AS ni, (SELECT count(*) FROM ini) AS nn,
                      (SELECT count(*) FROM geo) AS ng),
     keyed AS (
         SELECT r.range AS n, r.range % s.ni AS ik, (r.range // s.ni) % s.nn AS nk,
                (r.range // (s.ni * s.nn)) % s.ng AS gk,
                r.range // (s.ni * s.nn * s.ng) AS day
         FROM range($1) AS r CROSS JOIN sizes AS s
     )
SELECT ind.id, ini.id, geo.id, strftime(DATE '1990-01-01' + CAST(day AS INTEGER), '%Y-%m-%d'),
       DATE '1990-01-01' + CAST(day AS INTEGER), DATE '1990-01-01' + CAST(day AS INTEGER),
       $2, CAST(n % 997 AS DOUBLE), CASE WHEN ind.dimension = 'money' THEN 'USD' END,
       CAST(n % 997 AS TEXT), 'synthetic', $6, $3, $4, NULL
FROM keyed
JOIN ind ON ind.k = keyed.ik
JOIN ini ON ini.k = keyed.nk
JOIN geo ON geo.k = keyed.gk
"""

# A few points for each of `countries` ($1) on the indicators of the country profile:
# what makes 'countries with data' find them (the 50-variant benchmark).
COUNTRY_POINTS = """
INSERT INTO observations (indicator, initiative, geography, period, period_start, period_end,
    source, value, currency, value_as_given, unit_as_given, note, batch, recorded_at,
    superseded_at)
SELECT i.indicator, 'BRI', c.country, y.year::TEXT, make_date(y.year, 1, 1),
       make_date(y.year, 12, 31), $2, 10.0 + y.year - 2019 + length(c.country),
       CASE WHEN d.dimension = 'money' THEN 'USD' END,
       (10 + y.year - 2019)::TEXT, 'synthetic', $5, $3, $4, NULL
FROM unnest($1) AS c(country)
CROSS JOIN unnest(['new_deal_value', 'new_deals', 'power_capacity', 'trade_central_asia'])
    AS i(indicator)
CROSS JOIN range(2019, 2025) AS y(year)
JOIN indicators AS d ON d.id = i.indicator
"""


def copy_database(source: Path, target: Path) -> Path:
    """Copy a tracker database with its run history (`tracker init` made both; commands that
    render or deliver refuse a database without its run history)."""
    shutil.copyfile(source, target)
    runs = store.run_history_path(source)
    if runs.exists():
        shutil.copyfile(runs, store.run_history_path(target))
    return target


def build_demo(db: Path) -> None:
    """`tracker init` and `tracker ingest data/observations/*.csv`, as `make demo` does."""
    tracker = Path(sys.executable).with_name("tracker")
    observations = sorted((settings.PROJECT_ROOT / "data" / "observations").glob("*.csv"))
    for command in (["init"], ["ingest", *map(str, observations)]):
        subprocess.run([str(tracker), "--db", str(db), *command], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip


def add_many_observations(db: Path, rows: int, *, keep_out: list[str] | None = None) -> int:
    """Add `rows` synthetic observations on country geographies (not those in
    `keep_out`); returns the number of observations in the store afterwards."""
    source = "synthetic-benchmark-store"
    with duckdb.connect(str(db)) as conn:
        conn.execute("BEGIN")
        now = store.utc_now()
        title = "SYNTHETIC rows for the benchmarks (not real data)"
        conn.execute(_SOURCE, [source, title, f"{rows:,} rows, tests/benchmarks/synthetic.py"])
        (batch,) = conn.execute(_BATCH, [f"synthetic {rows} rows", rows, now]).fetchone() or (0,)
        conn.execute("SET preserve_insertion_order = false")
        conn.execute(MANY_OBSERVATIONS, [rows, source, batch, now, keep_out or [], NOTE])
        store.refresh_latest_points(conn)  # the rows did not come through write_batch
        conn.execute("COMMIT")
        conn.execute("CHECKPOINT")
        (count,) = conn.execute("SELECT count(*) FROM observations").fetchone() or (0,)
    return int(count)


def add_country_points(db: Path, countries: list[str]) -> None:
    """A few synthetic yearly points for each country in `countries`."""
    source = "synthetic-benchmark-countries"
    with duckdb.connect(str(db)) as conn:
        conn.execute("BEGIN")
        now = store.utc_now()
        conn.execute(_SOURCE, [source, "SYNTHETIC country figures for the benchmarks",
                               "Not real data: tests/benchmarks/synthetic.py"])  # fmt: skip
        (batch,) = conn.execute(
            _BATCH, ["synthetic countries", len(countries), now]
        ).fetchone() or (0,)
        conn.execute(COUNTRY_POINTS, [countries, source, batch, now, NOTE])
        store.refresh_latest_points(conn)
        conn.execute("COMMIT")


def countries_outside(db: Path, region: str, count: int) -> list[str]:
    """The first `count` country ids (by id) that are not members of `region`."""
    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute(
            "SELECT id FROM geographies WHERE kind = 'country' AND id NOT IN "
            "(SELECT member FROM geography_members WHERE region = ?) ORDER BY id LIMIT ?",
            [region, count],
        ).fetchall()
    return [row[0] for row in rows]
