"""One batch of observations into the store, and the latest_points summary kept with it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tracker.errors import InputError
from tracker.models import BatchSummary
from tracker.store.connection import Connection, claim_writes, next_id, scalar, utc_now
from tracker.text import show

if TYPE_CHECKING:
    import polars as pl

KEY_COLUMNS = ("indicator", "initiative", "geography", "period", "source")
# A note cell holding only this clears the stored note. An empty cell keeps it: a row
# re-entered without its note is the same figure, not a revision that wipes the curation.
# '-' is what a spreadsheet shows for "nothing here", never a note worth keeping.
NOTE_CLEARED = "-"
OBSERVATION_COLUMNS = (
    "indicator",
    "initiative",
    "geography",
    "period",
    "period_start",
    "period_end",
    "source",
    "value",
    "currency",
    "value_as_given",
    "unit_as_given",
    "note",
    "qualifier",
    "contributor",
)


def write_batch(
    conn: Connection,
    rows: pl.DataFrame,
    *,
    files: Sequence[str],
    sha256s: Sequence[str],
    new_sources: pl.DataFrame | None = None,
    dry_run: bool = False,
) -> BatchSummary:
    """Record one batch of observations inside the caller's transaction.

    `rows` has OBSERVATION_COLUMNS. Each row is new (key not seen), unchanged (same value,
    currency, note, qualifier and contributor as the current vintage: nothing is written) or
    a revision (a new vintage; the old one, or the withdrawal of a withdrawn point, gets
    superseded_at). A NULL
    note keeps the stored one (also into a revision); NOTE_CLEARED clears it. With dry_run, or
    when every row is unchanged, nothing is written and batch_id is None.
    """
    recorded_at = utc_now()
    conn.register("incoming_rows", ArrowStream(rows.select(OBSERVATION_COLUMNS)))
    try:
        new, revised = (int(n) for n in conn.execute(_COUNT_SQL).fetchall()[0])
        unchanged = rows.height - new - revised
        batch_id: int | None = None
        # Loading what is already there changes nothing: not even a batch record.
        if not dry_run and (new or revised):
            claim_writes(conn)  # the counts above stay true until this commits
            _register_sources(conn, new_sources)
            batch_id = next_id(conn, "batch_ids")
            conn.execute(
                "INSERT INTO batches (id, files, sha256, rows_read, rows_new, rows_revised, "
                "rows_unchanged, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [batch_id, list(files), list(sha256s), rows.height, new, revised,
                 unchanged, recorded_at],
            )  # fmt: skip
            # Row order in the table means nothing; not keeping it makes the insert parallel.
            conn.execute("SET preserve_insertion_order = false")
            try:
                if revised:
                    conn.execute(_SUPERSEDE_SQL, [recorded_at])
                # Revised points have no current vintage now: both they and new points
                # are the rows without one.
                conn.execute(
                    _INSERT_REVISED_SQL if revised else _INSERT_SQL,
                    [batch_id, recorded_at, *([recorded_at] if revised else [])],
                )
                _update_latest_points(conn, batch_id)
            finally:
                conn.execute("RESET preserve_insertion_order")
    finally:
        conn.unregister("incoming_rows")
    return BatchSummary(
        batch_id=batch_id,
        files=tuple(files),
        rows_read=rows.height,
        rows_new=new,
        rows_revised=revised,
        rows_unchanged=unchanged,
        dry_run=dry_run,
    )


_KEYS = ", ".join(KEY_COLUMNS)
_SAME_VINTAGE = (
    "{a}.value = {b}.value AND {a}.currency IS NOT DISTINCT FROM {b}.currency "
    "AND ({b}.note IS NULL OR {a}.note IS NOT DISTINCT FROM nullif({b}.note, '"
    + NOTE_CLEARED
    + "')) "
    "AND {a}.qualifier IS NOT DISTINCT FROM {b}.qualifier "  # '~22' after '22' is a revision
    "AND {a}.contributor IS NOT DISTINCT FROM {b}.contributor"  # so is 'US only' after 'all'
)
# The live vintage of each point: the current one, or the withdrawal that ended it (which
# observations_current skips). Loading a withdrawn point again is a revision of it.
_LIVE = f"""
SELECT {_KEYS}, value, currency, note, qualifier, contributor, withdrawn
FROM observations WHERE superseded_at IS NULL
"""
_COUNT_SQL = f"""
SELECT count(*) FILTER (WHERE c.indicator IS NULL) AS new,
       count(*) FILTER (
           WHERE c.indicator IS NOT NULL
             AND (c.withdrawn IS TRUE OR NOT ({_SAME_VINTAGE.format(a="c", b="s")}))
       ) AS revised
FROM incoming_rows AS s
LEFT JOIN ({_LIVE}) AS c USING ({_KEYS})
"""
_SUPERSEDE_SQL = f"""
UPDATE observations AS o SET superseded_at = ?
FROM incoming_rows AS s
WHERE o.superseded_at IS NULL
  AND {" AND ".join(f"o.{k} = s.{k}" for k in KEY_COLUMNS)}
  AND (o.withdrawn IS TRUE OR NOT ({_SAME_VINTAGE.format(a="o", b="s")}))
"""


def _incoming(note: str) -> str:
    """The incoming rows' columns in OBSERVATION_COLUMNS order, the note as `note` says."""
    return ", ".join(note if c == "note" else f"s.{c}" for c in OBSERVATION_COLUMNS)


_INSERT_SQL = f"""
INSERT INTO observations ({", ".join(OBSERVATION_COLUMNS)}, batch, recorded_at, superseded_at)
SELECT {_incoming(f"nullif(s.note, '{NOTE_CLEARED}')")}, ? AS batch, ? AS recorded_at,
       NULL AS superseded_at
FROM incoming_rows AS s
ANTI JOIN observations_current AS c USING ({_KEYS})
"""
# The same, carrying the note of the vintage this batch superseded (at $3) into a revision
# whose note cell was empty.
_INSERT_REVISED_SQL = f"""
INSERT INTO observations ({", ".join(OBSERVATION_COLUMNS)}, batch, recorded_at, superseded_at)
SELECT {_incoming(f"coalesce(nullif(s.note, '{NOTE_CLEARED}'), if(s.note IS NULL, p.note, NULL))")},
       ? AS batch, ? AS recorded_at, NULL AS superseded_at
FROM incoming_rows AS s
ANTI JOIN observations_current AS c USING ({_KEYS})
LEFT JOIN (SELECT * FROM observations WHERE superseded_at = ?) AS p USING ({_KEYS})
"""

# latest_points after batch $1, without reading the whole table: the newest
# period end of each series the batch touched (its rows and the summary's); the summary's
# rows of those series that end earlier, or that the batch revised, go; the batch's rows at
# that end come in. Hash joins against the few touched series, no ranking.
_SERIES = ("indicator", "initiative", "geography", "source")
_LATEST_COLUMNS = ", ".join((*OBSERVATION_COLUMNS, "batch", "recorded_at"))
_ON_SERIES = " AND ".join(f"{{a}}.{c} = {{b}}.{c}" for c in _SERIES)
_LATEST_MAX_SQL = f"""
CREATE OR REPLACE TEMP TABLE latest_max AS
WITH fresh AS (
    SELECT {", ".join(_SERIES)}, max(period_end) AS period_end
    FROM observations WHERE batch = $1 GROUP BY ALL
)
SELECT f.{", f.".join(_SERIES)}, greatest(f.period_end, max(l.period_end)) AS period_end
FROM fresh AS f LEFT JOIN latest_points AS l ON {_ON_SERIES.format(a="l", b="f")}
GROUP BY f.{", f.".join(_SERIES)}, f.period_end
"""
_LATEST_DROP_SQL = f"""
DELETE FROM latest_points AS l USING latest_max AS m
WHERE {_ON_SERIES.format(a="l", b="m")} AND l.period_end < m.period_end
"""
_FRESH_AT_MAX = f"""
SELECT o.{", o.".join(_LATEST_COLUMNS.split(", "))}
FROM observations AS o JOIN latest_max AS m
    ON {_ON_SERIES.format(a="o", b="m")} AND o.period_end = m.period_end
WHERE o.batch = $1
"""
_LATEST_REVISED_SQL = f"""
DELETE FROM latest_points AS l USING ({_FRESH_AT_MAX}) AS f
WHERE {" AND ".join(f"l.{c} = f.{c}" for c in KEY_COLUMNS)}
"""
_LATEST_ADD_SQL = f"INSERT INTO latest_points ({_LATEST_COLUMNS}) {_FRESH_AT_MAX}"
_LATEST_REBUILD_SQL = f"""
INSERT INTO latest_points ({_LATEST_COLUMNS})
SELECT {_LATEST_COLUMNS} FROM observations_current
QUALIFY period_end = max(period_end) OVER (PARTITION BY {", ".join(_SERIES)})
"""


class ArrowStream:
    """A polars frame as DuckDB scans it through the Arrow C stream interface: no pyarrow
    (whose import alone costs more than scanning a million rows), and every scan of the
    registered name reads the frame afresh."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self.frame.__arrow_c_stream__(requested_schema)


def _update_latest_points(conn: Connection, batch_id: int) -> None:
    conn.execute(_LATEST_MAX_SQL, [batch_id])
    try:
        conn.execute(_LATEST_DROP_SQL)
        conn.execute(_LATEST_REVISED_SQL, [batch_id])
        conn.execute(_LATEST_ADD_SQL, [batch_id])
    finally:
        conn.execute("DROP TABLE IF EXISTS latest_max")


def withdraw_point(conn: Connection, key: Sequence[str], reason: str) -> int:
    """Withdraw the point `key` (indicator, initiative, geography, period, source) inside the
    caller's transaction, as one batch: a new vintage with `withdrawn` and the reason, the
    current one superseded. Returns the batch id; InputError naming the point when it has no
    current vintage (never loaded, or already withdrawn).
    """
    named = _point_name(key)
    live = conn.execute(_LIVE_OF_POINT_SQL, list(key)).fetchall()
    if not live:
        raise InputError(
            f"No point {named} is in the database; nothing was withdrawn. A point is named "
            "by its stored ids and period (`tracker history INDICATOR` lists them)."
        )
    withdrawn, withdrawn_reason, recorded_at = live[0]
    if withdrawn:
        raise InputError(
            f"The point {named} was already withdrawn at {recorded_at:%Y-%m-%d %H:%M:%S} UTC "
            f"(reason: {show(withdrawn_reason or '', 200)}); nothing was withdrawn. Load it "
            "again (`tracker add` or `tracker ingest`) to make it current."
        )
    recorded_at = utc_now()
    digest = hashlib.sha256("\t".join([*key, reason]).encode("utf-8")).hexdigest()
    claim_writes(conn)
    batch_id = next_id(conn, "batch_ids")
    conn.execute(
        "INSERT INTO batches (id, files, sha256, rows_read, rows_new, rows_revised, "
        "rows_unchanged, rows_withdrawn, recorded_at) VALUES (?, ?, ?, 1, 0, 0, 0, 1, ?)",
        [batch_id, [WITHDRAW_FILE], [digest], recorded_at],
    )
    conn.execute(_WITHDRAW_SQL, [batch_id, recorded_at, reason, *key])
    conn.execute(_SUPERSEDE_POINT_SQL, [recorded_at, *key, batch_id])
    _rebuild_latest_points_of_series(conn, [key[0], key[1], key[2], key[4]])
    return batch_id


# What `batches.files` holds for a batch of `tracker withdraw` (no file was read).
WITHDRAW_FILE = "tracker withdraw"
_ON_POINT = " AND ".join(f"{k} = ?" for k in KEY_COLUMNS)
_LIVE_OF_POINT_SQL = f"""
SELECT withdrawn IS TRUE, withdrawn_reason, recorded_at
FROM observations WHERE superseded_at IS NULL AND {_ON_POINT}
"""
_WITHDRAW_SQL = f"""
INSERT INTO observations ({", ".join(OBSERVATION_COLUMNS)}, batch, recorded_at, superseded_at,
                          withdrawn, withdrawn_reason)
SELECT {", ".join(OBSERVATION_COLUMNS)}, ?, ?, NULL, true, ?
FROM observations WHERE superseded_at IS NULL AND {_ON_POINT}
"""
_SUPERSEDE_POINT_SQL = f"""
UPDATE observations SET superseded_at = ?
WHERE superseded_at IS NULL AND {_ON_POINT} AND batch <> ?
"""
_ON_SERIES_PARAMS = " AND ".join(f"{c} = ?" for c in _SERIES)
_LATEST_OF_SERIES_DROP_SQL = f"DELETE FROM latest_points WHERE {_ON_SERIES_PARAMS}"
_LATEST_OF_SERIES_ADD_SQL = f"""
INSERT INTO latest_points ({_LATEST_COLUMNS})
SELECT {_LATEST_COLUMNS} FROM observations_current WHERE {_ON_SERIES_PARAMS}
QUALIFY period_end = max(period_end) OVER ()
"""


def _rebuild_latest_points_of_series(conn: Connection, series: list[str]) -> None:
    """latest_points of one series (indicator, initiative, geography, source) afresh: a
    withdrawal may take away its newest point, and an earlier period becomes the latest."""
    conn.execute(_LATEST_OF_SERIES_DROP_SQL, series)
    conn.execute(_LATEST_OF_SERIES_ADD_SQL, series)


def _point_name(key: Sequence[str]) -> str:
    return ", ".join(f"{name} '{value}'" for name, value in zip(KEY_COLUMNS, key, strict=True))


def refresh_latest_points(conn: Connection) -> None:
    """Rebuild latest_points from observations, for writes that did not go
    through `write_batch` (`tracker sql --write`, tools writing the table directly)."""
    if not scalar(conn, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'latest_points'"):
        return
    conn.execute("DELETE FROM latest_points")
    conn.execute(_LATEST_REBUILD_SQL)


def _register_sources(conn: Connection, new_sources: pl.DataFrame | None) -> None:
    if new_sources is None or not new_sources.height:
        return
    conn.register("new_source_rows", ArrowStream(new_sources))
    try:
        conn.execute(
            "MERGE INTO sources AS t USING new_source_rows AS s ON t.id = s.id "
            "WHEN NOT MATCHED THEN INSERT (id, title, url, kind, note) "
            "VALUES (s.id, s.title, s.url, s.kind, s.note)"
        )
    finally:
        conn.unregister("new_source_rows")


# Points the batch gives a source they did not have while another source gives them a value
# (in the store or in the batch): every source of such a point, in headline order.
_SECOND_SOURCES_SQL = f"""
WITH incoming AS (
    SELECT s.indicator, s.initiative, s.geography, s.period, s.source, s.value, s.currency,
           s.qualifier, c.indicator IS NULL AS is_new
    FROM incoming_rows AS s
    LEFT JOIN observations_current AS c USING ({_KEYS})
),
touched AS (
    SELECT DISTINCT indicator, initiative, geography, period FROM incoming WHERE is_new
),
givers AS (
    SELECT * FROM incoming SEMI JOIN touched USING (indicator, initiative, geography, period)
    UNION ALL
    SELECT o.indicator, o.initiative, o.geography, o.period, o.source, o.value, o.currency,
           o.qualifier, false AS is_new
    FROM observations_current AS o
    SEMI JOIN touched USING (indicator, initiative, geography, period)
    ANTI JOIN incoming USING ({_KEYS})
),
ranked AS (
    SELECT g.*, coalesce(s.kind, 'unspecified') AS kind,
           count(*) OVER same_point AS givers,
           headline_order(g.source, i.preferred_source, coalesce(s.kind, 'unspecified'),
                          s.published) AS rank_key,
           g.source IS NOT DISTINCT FROM i.preferred_source AS preferred,
           s.published
    FROM givers AS g
    JOIN indicators AS i ON i.id = g.indicator
    LEFT JOIN sources AS s ON s.id = g.source
    WINDOW same_point AS (PARTITION BY g.indicator, g.initiative, g.geography, g.period)
),
shared AS (
    SELECT *, dense_rank() OVER (ORDER BY indicator, initiative, geography, period) AS no
    FROM ranked WHERE givers > 1
)
SELECT no, max(no) OVER () AS points, indicator, initiative, geography, period, source,
       value, currency, qualifier, kind, is_new, preferred, published
FROM shared
QUALIFY no <= $1
ORDER BY no, rank_key
"""


def second_sources(conn: Connection, rows: pl.DataFrame, limit: int) -> list[tuple[Any, ...]]:
    """Points that `rows` give a second (third, ...) source: one row per source of each of
    the first `limit` such points (in key order), the headline first (`headline_order`,
    migration 009): no, points (how many in all), indicator, initiative, geography, period,
    source, value, currency, qualifier, kind, is_new, preferred, published. Reads only."""
    conn.register("incoming_rows", ArrowStream(rows.select(OBSERVATION_COLUMNS)))
    try:
        return conn.execute(_SECOND_SOURCES_SQL, [limit]).fetchall()
    finally:
        conn.unregister("incoming_rows")
