"""latest_points (migration 001), the summary behind latest_values and target_progress: after
every kind of write the two views give exactly the rows the ranking over every current
observation (their definitions of migration 001) gives."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.conftest import ingest_rows, invoke

# The views as migrations 001, 004 (the qualifier), 005 (the context column), 007 and 012
# (the contributor: a target counts only figures of its own) define them, over
# observations_current.
RANKED_LATEST_VALUES = """
SELECT c.indicator, c.initiative, c.geography, c.source, c.period, c.period_start,
       c.period_end, c.value, c.qualifier, c.currency, i.unit, i.measure, c.note, c.recorded_at,
       i.context, c.contributor
FROM observations_current AS c
JOIN indicators AS i ON i.id = c.indicator
QUALIFY row_number() OVER (
    PARTITION BY c.indicator, c.initiative, c.geography, c.source
    ORDER BY c.period_end DESC, c.period_start ASC
) = 1
"""
RANKED_NEWEST = """
SELECT c.indicator, c.initiative, c.geography, c.period, c.value, c.source, c.contributor
FROM observations_current AS c
JOIN indicators AS i ON i.id = c.indicator
QUALIFY row_number() OVER (
    PARTITION BY c.indicator, c.initiative, c.geography, c.contributor
    ORDER BY c.period_end DESC, (c.source = i.preferred_source) DESC, c.recorded_at DESC
) = 1
"""


def _same_as_ranked(db: Path) -> None:
    with duckdb.connect(str(db), read_only=True) as conn:
        summary = conn.execute("SELECT * FROM latest_values ORDER BY ALL").fetchall()
        ranked = conn.execute(RANKED_LATEST_VALUES + " ORDER BY ALL").fetchall()
        assert summary == ranked
        progress = conn.execute(
            "SELECT indicator, initiative, geography, label, latest_period, latest_value, "
            "latest_source, contributor FROM target_progress ORDER BY ALL"
        ).fetchall()
        newest = {
            (row[0], row[1], row[2], row[6]): row
            for row in conn.execute(RANKED_NEWEST).fetchall()
        }  # fmt: skip
        for indicator, initiative, geography, _, period, _, source, contributor in progress:
            found = newest.get((indicator, initiative, geography, contributor))
            assert (period, source) == ((found[3], found[5]) if found else (None, None))


@pytest.mark.parametrize(
    "rows",
    [
        # a revision of the newest point, and of an older one
        [
            ["new_deal_value", "BRI", "WLD", "2024", "125", "USD bn", "griffith-bri-2024", ""],
            ["new_deal_value", "BRI", "WLD", "2023", "90", "USD bn", "griffith-bri-2024", ""],
        ],
        # a later period, an earlier one, a half-year ending with the year
        [
            ["new_deals", "BRI", "WLD", "2025-H1", "100", "count", "gfdc-bri-2023", ""],
            ["new_deals", "BRI", "WLD", "2011", "1", "count", "gfdc-bri-2023", ""],
            [
                "trade_central_asia",
                "BRI",
                "central-asia",
                "2024-H2",
                "50",
                "USD bn",
                "seed-003-cgtn-central-asia",
                "",
            ],
        ],
        # a second source for a target's series, newer than the preferred one
        [
            [
                "trade_central_asia",
                "BRI",
                "central-asia",
                "2025",
                "99",
                "USD bn",
                "other source, not preferred",
                "",
            ],
            ["financing", "GG", "WLD", "2025", "310", "EUR bn", "another citation", ""],
        ],
        # a new series and a new geography
        [["power_capacity", "BRI", "KAZ", "2025-H1", "0.5", "GW", "a citation", ""]],
    ],
)
def test_latest_values_and_target_progress_match_the_ranking_after_eachingest_rows(
    tracker_db: Path, tmp_path: Path, rows: list[list[str]]
) -> None:
    _same_as_ranked(tracker_db)
    ingest_rows(tracker_db, tmp_path, rows)
    _same_as_ranked(tracker_db)
    ingest_rows(
        tracker_db, tmp_path, [[*row[:4], str(float(row[4]) + 1), *row[5:]] for row in rows]
    )
    _same_as_ranked(tracker_db)


def test_sql_write_rebuilds_the_summary(tracker_db: Path) -> None:
    result = invoke(
        "sql", "--write",
        "UPDATE observations SET value = value * 2 WHERE indicator = 'trade_central_asia'",
        db=tracker_db,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    _same_as_ranked(tracker_db)
    with duckdb.connect(str(tracker_db), read_only=True) as conn:
        (value,) = conn.execute(
            "SELECT latest_value FROM target_progress WHERE indicator = 'trade_central_asia'"
        ).fetchone() or (None,)
    assert value == Decimal("189.6")  # 94.8 * 2, exactly


def test_a_dry_run_and_an_unchanged_reload_leave_the_summary_alone(
    tracker_db: Path, tmp_path: Path
) -> None:
    with duckdb.connect(str(tracker_db), read_only=True) as conn:
        before = conn.execute("SELECT * FROM latest_points ORDER BY ALL").fetchall()
    path = tmp_path / "dry.csv"
    path.write_text(
        "indicator,initiative,geography,period,value,unit,source\n"
        "new_deals,BRI,WLD,2030,1,count,gfdc-bri-2023\n",
        encoding="utf-8",
    )
    assert invoke("ingest", "--dry-run", path, db=tracker_db).exit_code == 0
    with duckdb.connect(str(tracker_db), read_only=True) as conn:
        assert conn.execute("SELECT * FROM latest_points ORDER BY ALL").fetchall() == before
