"""Project records (AidData GCDF) into `projects`, vintage by vintage, and the figures of
derived indicators computed from them in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracker.models import Derived
from tracker.store.batches import ArrowStream
from tracker.store.connection import Connection, claim_writes, next_id, utc_now

if TYPE_CHECKING:
    import polars as pl

# The columns of `projects` an import gives, in table order; `digest` is computed from them.
PROJECT_COLUMNS = (
    "record_id", "recommended_for_aggregates", "title", "recipient", "recipient_iso3",
    "recipient_region", "commitment_year", "commitment_date", "status", "intent", "flow_type",
    "flow_class", "sector_code", "sector_name", "infrastructure", "amount_original",
    "original_currency", "amount_constant_usd_2021", "amount_nominal_usd", "funding_agencies",
    "source_urls", "source",
)  # fmt: skip
# Columns a [derived] table may name (the schema allows no others; checked again here, as
# they are written into the SQL as identifiers).
FILTER_COLUMNS = frozenset(
    {"recommended_for_aggregates", "sector_code", "sector_name", "flow_class", "infrastructure"}
)
SUMMED_COLUMNS = frozenset({"amount_constant_usd_2021", "amount_nominal_usd"})
GEOGRAPHY_COLUMNS = frozenset({"recipient_iso3"})
PERIOD_COLUMNS = frozenset({"commitment_year"})


@dataclass(frozen=True)
class ProjectCounts:
    """What writing project records did: records read, new, revised, unchanged."""

    read: int
    new: int
    revised: int

    @property
    def unchanged(self) -> int:
        return self.read - self.new - self.revised


@dataclass(frozen=True)
class DerivedFigure:
    """One figure of a derived indicator: a geography and period, and what it sums up."""

    geography: str
    period: str
    records: int  # records counted (after the filters)
    with_amount: int  # of which have the summed column (sum only)
    value: float | None  # the count, or the sum (None: no record has an amount)


_DIGEST = "md5(CAST(struct_pack({}) AS VARCHAR))".format(
    ", ".join(f"{c} := s.{c}" for c in PROJECT_COLUMNS)
)
_COUNT_SQL = f"""
SELECT count(*) FILTER (WHERE c.record_id IS NULL),
       count(*) FILTER (WHERE c.record_id IS NOT NULL AND c.digest <> {_DIGEST})
FROM incoming_projects AS s
LEFT JOIN projects AS c ON c.record_id = s.record_id AND c.superseded_at IS NULL
"""
_SUPERSEDE_SQL = f"""
UPDATE projects AS c SET superseded_at = ?
FROM incoming_projects AS s
WHERE c.superseded_at IS NULL AND c.record_id = s.record_id AND c.digest <> {_DIGEST}
"""
_INSERT_SQL = f"""
INSERT INTO projects ({", ".join(PROJECT_COLUMNS)}, file, line, digest, recorded_at)
SELECT {", ".join(f"s.{c}" for c in PROJECT_COLUMNS)}, s.file, s.line, {_DIGEST}, ?
FROM incoming_projects AS s
WHERE NOT EXISTS (
    SELECT 1 FROM projects AS c WHERE c.record_id = s.record_id AND c.superseded_at IS NULL
)
"""


def write_projects(conn: Connection, rows: pl.DataFrame) -> ProjectCounts:
    """Record project rows (PROJECT_COLUMNS, file, line; one per record_id) inside the
    caller's transaction: a new record or a changed one is a new vintage (the old one
    superseded), an unchanged one writes nothing. The new vintages have no batch yet
    (`assign_projects_batch`)."""
    conn.register("incoming_projects", ArrowStream(rows))
    try:
        new, revised = (int(n) for n in conn.execute(_COUNT_SQL).fetchall()[0])
        if new or revised:
            claim_writes(conn)
            recorded_at = utc_now()
            if revised:
                conn.execute(_SUPERSEDE_SQL, [recorded_at])
            conn.execute(_INSERT_SQL, [recorded_at])
    finally:
        conn.unregister("incoming_projects")
    return ProjectCounts(read=rows.height, new=new, revised=revised)


def assign_projects_batch(
    conn: Connection, batch_id: int | None, files: Sequence[str], sha256s: Sequence[str]
) -> int:
    """Give the vintages `write_projects` wrote in this transaction their batch: `batch_id`
    (the batch of the derived figures), or, when the figures did not change, a batch of
    their own recording the files. Returns the batch id."""
    if batch_id is None:
        batch_id = next_id(conn, "batch_ids")
        conn.execute(
            "INSERT INTO batches (id, files, sha256, rows_read, rows_new, rows_revised, "
            "rows_unchanged, recorded_at) VALUES (?, ?, ?, 0, 0, 0, 0, ?)",
            [batch_id, list(files), list(sha256s), utc_now()],
        )
    else:  # the derived rows were loaded as one inline file: the batch names every file
        conn.execute(
            "UPDATE batches SET files = ?, sha256 = ? WHERE id = ?",
            [list(files), list(sha256s), batch_id],
        )
    conn.execute("UPDATE projects SET batch = ? WHERE batch IS NULL", [batch_id])
    return batch_id


def derived_figures(
    conn: Connection, derived: Derived, source: str
) -> tuple[list[DerivedFigure], int]:
    """The figures of one derived indicator from the current records of `source`: one per
    country and period; and the number of records left out because their geography is not
    one country of `geographies` (a regional or multi-country recipient) or their period is
    empty."""
    names = [name for name, _ in derived.filters]
    summed = [derived.column] if derived.column else []
    columns = {derived.geography, derived.period, *names, *summed}
    allowed = FILTER_COLUMNS | SUMMED_COLUMNS | GEOGRAPHY_COLUMNS | PERIOD_COLUMNS
    if derived.table != "projects" or not columns <= allowed:
        raise ValueError(f"a derived table names columns projects cannot give: {columns}")
    where, parameters = ["p.source = ?"], list[object]([source])
    for name, values in derived.filters:
        where.append(f"p.{name} IN ({', '.join('?' for _ in values)})")
        parameters.extend(values)
    amount = f"p.{derived.column}" if derived.column else "NULL::DOUBLE"
    rows = conn.execute(
        f"""
        SELECT p.{derived.geography} AS geography, CAST(p.{derived.period} AS VARCHAR) AS period,
               count(*) AS records, count({amount}) AS with_amount, sum({amount}) AS total,
               g.id IS NOT NULL AND p.{derived.period} IS NOT NULL AS known
        FROM projects_current AS p
        LEFT JOIN geographies AS g ON g.id = p.{derived.geography} AND g.kind = 'country'
        WHERE {" AND ".join(where)}
        GROUP BY ALL
        ORDER BY geography, period
        """,
        parameters,
    ).fetchall()
    figures = [
        DerivedFigure(
            geography=str(geography),
            period=str(period),
            records=int(records),
            with_amount=int(with_amount),
            value=float(records) if derived.aggregate == "count" else total,
        )
        for geography, period, records, with_amount, total, known in rows
        if known
    ]
    left_out = sum(int(row[2]) for row in rows if not row[5])
    return figures, left_out


def current_points(
    conn: Connection, indicator: str, initiative: str, source: str
) -> set[tuple[str, str]]:
    """The (geography, period) of the current figures of one series family: those a new
    derivation no longer gives are set to zero by the import."""
    rows = conn.execute(
        "SELECT geography, period FROM observations_current "
        "WHERE indicator = ? AND initiative = ? AND source = ?",
        [indicator, initiative, source],
    ).fetchall()
    return {(str(g), str(p)) for g, p in rows}
