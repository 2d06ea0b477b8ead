"""Exchange rates from a publisher's files into `fx_rates`, as one batch with vintages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tracker.models import BatchSummary
from tracker.store.connection import Connection, claim_writes, merge_sql, next_id, utc_now


@dataclass(frozen=True)
class FxRate:
    """One annual rate: US dollars per unit of `currency` in `year`, and what it is."""

    currency: str
    year: int
    usd_per_unit: float
    source: str
    note: str


def write_fx_rates(
    conn: Connection,
    rates: Sequence[FxRate],
    *,
    files: Sequence[str],
    sha256s: Sequence[str],
    dry_run: bool = False,
) -> BatchSummary:
    """Put `rates` into `fx_rates` inside the caller's transaction, as one batch.

    A rate equal to the current row (value, source and note) is unchanged and writes
    nothing; a new or different one gets a `fx_rate_vintages` row with the batch, and the
    row it replaces is kept there, superseded. With dry_run, or nothing new, nothing is
    written and batch_id is None.
    """
    current = {
        (str(c), int(y)): (float(v), str(s), None if n is None else str(n))
        for c, y, v, s, n in conn.execute(
            "SELECT currency, year, usd_per_unit, source, note FROM fx_rates"
        ).fetchall()
    }
    changed = [
        r for r in rates if current.get((r.currency, r.year)) != (r.usd_per_unit, r.source, r.note)
    ]
    revised = [r for r in changed if (r.currency, r.year) in current]
    summary = BatchSummary(
        None, tuple(files), len(rates), len(changed) - len(revised), len(revised),
        len(rates) - len(changed), dry_run=dry_run,
    )  # fmt: skip
    if dry_run or not changed:
        return summary
    now = utc_now()
    claim_writes(conn)
    batch_id = next_id(conn, "batch_ids")
    conn.execute(
        "INSERT INTO batches (id, files, sha256, rows_read, rows_new, rows_revised, "
        "rows_unchanged, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [batch_id, list(files), list(sha256s), summary.rows_read, summary.rows_new,
         summary.rows_revised, summary.rows_unchanged, now],
    )  # fmt: skip
    keys = [[r.currency, r.year] for r in revised]
    if keys:
        _supersede(conn, keys, now)
    rows = [[r.currency, r.year, r.usd_per_unit, r.source, r.note] for r in changed]
    conn.executemany(
        "INSERT INTO fx_rate_vintages VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
        [[*row, batch_id, now] for row in rows],
    )
    conn.executemany(SET_RATE, rows)
    return BatchSummary(
        batch_id, summary.files, summary.rows_read, summary.rows_new, summary.rows_revised,
        summary.rows_unchanged,
    )  # fmt: skip


def _supersede(conn: Connection, keys: list[list[Any]], now: datetime) -> None:
    """End the current vintage of each (currency, year) in `keys`."""
    # A replaced row that no import wrote (shipped, or typed in) is kept as a vintage too.
    conn.executemany(
        "INSERT INTO fx_rate_vintages SELECT currency, year, usd_per_unit, source, note, NULL, "
        "$now, $now FROM fx_rates f WHERE currency = $currency AND year = $year AND NOT EXISTS "
        "(SELECT 1 FROM fx_rate_vintages v WHERE v.currency = f.currency AND v.year = f.year "
        "AND v.superseded_at IS NULL)",
        [{"now": now, "currency": c, "year": y} for c, y in keys],
    )
    conn.executemany(
        "UPDATE fx_rate_vintages SET superseded_at = ? WHERE currency = ? AND year = ? "
        "AND superseded_at IS NULL",
        [[now, c, y] for c, y in keys],
    )


# `tracker init` puts the shipped rows back; the rates imports wrote stay current over them.
FX_RATE_COLUMNS = ["currency", "year", "usd_per_unit", "source", "note"]
RESTORE_IMPORTED = merge_sql(
    "fx_rates", ["currency", "year"], FX_RATE_COLUMNS,
    "SELECT currency, year, usd_per_unit, source, note FROM fx_rate_vintages "
    "WHERE superseded_at IS NULL AND batch IS NOT NULL",
)  # fmt: skip
SET_RATE = merge_sql(
    "fx_rates", ["currency", "year"], FX_RATE_COLUMNS,
    "SELECT ?::TEXT AS currency, ?::INTEGER AS year, ?::DOUBLE AS usd_per_unit, "
    "?::TEXT AS source, ?::TEXT AS note",
)  # fmt: skip
