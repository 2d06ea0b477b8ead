"""The reference tables and indicator definitions in the store, and the catalog of names a
CSV may use.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tracker import definitions, settings
from tracker.errors import DefinitionError
from tracker.models import Catalog, Indicator, IndicatorInfo, SourceRecord
from tracker.store.connection import (
    Connection,
    DatabaseError,
    first_line,
    merge_sql,
    migrate,
    scalar,
    transaction,
    utc_now,
)
from tracker.store.fx_rates import RESTORE_IMPORTED
from tracker.text import name_key
from tracker.units import counted_unit, fits, parse_unit

REFERENCE_TABLES = ("initiatives", "geographies", "geography_members", "sources", "fx_rates")
# The columns a row of each is known by (its primary key in a file; a team store has none).
REFERENCE_KEYS = {
    "initiatives": ["id"],
    "geographies": ["id"],
    "geography_members": ["region", "member"],
    "sources": ["id"],
    "fx_rates": ["currency", "year"],
}


# The columns sync_indicators writes, in the order of its rows.
INDICATOR_COLUMNS = (
    "id", "name", "description", "unit", "dimension", "base_unit", "multiplier", "measure",
    "base_date", "base_note", "frequency", "category", "preferred_source",
    "default_initiative", "definition_file", "definition_sha256", "synced_at", "count_noun",
    "fiscal_year_start_month", "fiscal_year_named_by", "context",
)  # fmt: skip


# What `tracker init` compares before and after syncing, to say what it restored: the
# definitions and the shipped reference rows are the truth, whatever `tracker sql --write`
# did to them. synced_at changes on every sync and says nothing about the content.
RESTORABLE: dict[str, str] = {
    "indicators": "SELECT * EXCLUDE (synced_at) FROM indicators",
    "targets": "SELECT * FROM targets",
    **{table: f"SELECT * FROM {table}" for table in REFERENCE_TABLES},
}


def initialise(conn: Connection) -> tuple[list[str], dict[str, int], list[str]]:
    """What `tracker init` does: migrate, then load the reference tables and sync the
    indicator definitions in one transaction, restoring any definition or reference row
    that was changed or deleted in the database. Returns the migrations applied, the
    reference rows read per table, and what was restored ("indicators: 1 row", ...)."""
    applied = migrate(conn)
    with transaction(conn):
        fresh = stored_definitions_digest(conn) is None
        before = {table: _rows(conn, sql) for table, sql in RESTORABLE.items()}
        counts = sync_reference(conn, settings.reference_dir())
        conn.execute(RESTORE_IMPORTED)  # imported rates stay current over shipped ones
        indicators = definitions.load_indicators(settings.indicators_dir())
        sync_indicators(conn, indicators, definitions.definitions_digest(indicators))
        restored = [] if fresh else _restored(conn, before)
    return applied, counts, restored


def _rows(conn: Connection, sql: str) -> set[str]:
    """Each row of a query as text, to compare a table before and after a sync."""
    return {str(row) for row in conn.execute(sql).fetchall()}


def _restored(conn: Connection, before: dict[str, set[str]]) -> list[str]:
    """The tables whose rows the sync put back: 'indicators: 1 row', 'geographies: 3 rows'."""
    restored = []
    for table, sql in RESTORABLE.items():
        count = len(_rows(conn, sql) - before[table])
        if count:
            restored.append(f"{table}: {count} row{'s' if count != 1 else ''}")
    return restored


def sync_definitions(conn: Connection) -> list[str]:
    """Sync indicators/ into the store when any definition file changed; what changed.

    When every file's bytes and the schema are those of the last sync, the files are
    neither parsed nor validated again (validating imports jsonschema: 50 ms a command);
    any change reads and validates every file as `tracker init` does.
    """
    folder = settings.indicators_dir()
    if stored_definitions_digest(conn) == definitions.definition_files_digest(folder):
        return []
    indicators = definitions.load_indicators(folder)
    return sync_indicators(conn, indicators, definitions.definitions_digest(indicators)) or [
        "definitions updated"
    ]


def sync_reference(conn: Connection, folder: Path) -> dict[str, int]:
    """Upsert the shipped reference tables from `folder/<table>.csv`; returns row counts.

    Rows are replaced by primary key, never deleted, so sources registered by ingest stay.
    """
    import polars as pl  # here, not at the top: `tracker sql` starts without polars

    counts: dict[str, int] = {}
    for table in REFERENCE_TABLES:
        path = folder / f"{table}.csv"
        if not path.exists():
            raise DefinitionError(f"{path}: reference table file not found.")
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8")
        columns = [row[0] for row in conn.execute(f"DESCRIBE {table}").fetchall()]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DefinitionError(
                f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)}."
            )
        conn.register("reference_rows", frame.select(columns))
        try:
            casts = ", ".join(f"NULLIF(trim({c}), '') AS {c}" for c in columns)
            source = f"SELECT {casts} FROM reference_rows"
            conn.execute(merge_sql(table, REFERENCE_KEYS[table], columns, source))
        except DatabaseError as error:
            raise DefinitionError(f"{path}: {first_line(str(error))}") from None
        finally:
            conn.unregister("reference_rows")
        counts[table] = frame.height
    return counts


def checked_mappings_digest(conn: Connection, format_name: str) -> str | None:
    """The digest of the mapping files the last `tracker import FORMAT` checked against the
    schema (`importers.mapping_files_digest`), or None."""
    value = scalar(conn, "SELECT value FROM meta WHERE key = ?", [f"mappings_sha256:{format_name}"])
    return None if value is None else str(value)


def record_checked_mappings(conn: Connection, format_name: str, digest: str) -> None:
    """Keep the digest of mapping files that passed the schema, for the next import."""
    conn.execute(SET_META, [f"mappings_sha256:{format_name}", digest])


def stored_definitions_digest(conn: Connection) -> str | None:
    """The hash of the indicator definitions last synced, or None."""
    value = scalar(conn, "SELECT value FROM meta WHERE key = 'definitions_sha256'")
    return None if value is None else str(value)


def sync_indicators(conn: Connection, indicators: Sequence[Indicator], digest: str) -> list[str]:
    """Make the indicators and targets tables match the definitions; returns what changed.

    A definition removed while observations still use it is refused; nothing changes then.
    """
    wanted = {indicator.id for indicator in indicators}
    stored = {row[0] for row in conn.execute("SELECT id FROM indicators").fetchall()}
    removed = sorted(stored - wanted)
    if removed:
        in_use = conn.execute(
            "SELECT indicator, count(*) FROM observations WHERE list_contains(?, indicator) "
            "GROUP BY indicator ORDER BY indicator",
            [removed],
        ).fetchall()
        if in_use:
            detail = ", ".join(f"'{name}' ({count} observations)" for name, count in in_use)
            raise DefinitionError(
                f"indicators/: the definition of {detail} was removed but the database still "
                "holds its observations. Restore the file (nothing was changed or lost)."
            )
    _check_definition_references(conn, indicators)
    now = utc_now()
    rows = []
    target_rows = []
    for indicator in indicators:
        unit = parse_unit(indicator.unit)
        assert unit is not None, "definitions validate units"
        rows.append(
            (
                indicator.id, indicator.name, indicator.description, indicator.unit,
                unit.dimension, unit.base, unit.scale, indicator.measure, indicator.base_date,
                indicator.base_note, indicator.frequency, indicator.category,
                indicator.preferred_source, indicator.default_initiative,
                str(indicator.path.name) if indicator.path else None, indicator.sha256, now,
                indicator.count_noun, indicator.fiscal_year_start_month,
                indicator.fiscal_year_named_by, indicator.context,
            )
        )  # fmt: skip
        for target in indicator.targets:
            target_unit = parse_unit(target.unit)
            assert target_unit is not None
            value = target.value * target_unit.scale / unit.scale
            currency = target_unit.base if target_unit.dimension == "money" else None
            target_rows.append(
                (
                    target.indicator, target.initiative, target.geography, target.label, value,
                    currency, target.unit, target.due, target.baseline_value,
                    target.baseline_period, target.source, target.note, target.contributor,
                )
            )  # fmt: skip
    conn.execute("DELETE FROM targets")
    conn.execute("DELETE FROM indicators WHERE NOT list_contains(?, id)", [sorted(wanted)])
    conn.executemany(INSERT_INDICATOR, rows)
    if target_rows:
        conn.executemany(
            "INSERT INTO targets (indicator, initiative, geography, label, value, currency, "
            "unit_as_given, due, baseline_value, baseline_period, source, note, contributor) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            target_rows,
        )
    conn.execute(SET_META, ["definitions_sha256", digest])
    added = sorted(wanted - stored)
    return [f"added {name}" for name in added] + [f"removed {name}" for name in removed]


INSERT_INDICATOR = merge_sql(
    "indicators", ["id"], INDICATOR_COLUMNS,
    f"SELECT {', '.join(f'? AS {name}' for name in INDICATOR_COLUMNS)}",
)  # fmt: skip
SET_META = merge_sql("meta", ["key"], ["key", "value"], "SELECT ?::TEXT AS key, ?::TEXT AS value")


def _check_definition_references(conn: Connection, indicators: Sequence[Indicator]) -> None:
    initiatives = {r[0] for r in conn.execute("SELECT id FROM initiatives").fetchall()}
    geographies = {r[0] for r in conn.execute("SELECT id FROM geographies").fetchall()}
    sources = {r[0] for r in conn.execute("SELECT id FROM sources").fetchall()}
    for indicator in indicators:
        where = indicator.path or indicator.id
        unit = parse_unit(indicator.unit)
        assert unit is not None
        if indicator.preferred_source and indicator.preferred_source not in sources:
            raise DefinitionError(
                f"{where}: key 'preferred_source': found '{indicator.preferred_source}', "
                "expected an id from the sources table (data/reference/sources.csv)."
            )
        if indicator.default_initiative and indicator.default_initiative not in initiatives:
            raise DefinitionError(
                f"{where}: key 'default_initiative': found '{indicator.default_initiative}', "
                f"expected one of {', '.join(sorted(initiatives))}."
            )
        for index, target in enumerate(indicator.targets):
            key = f"targets.{index}"
            target_unit = parse_unit(target.unit)
            assert target_unit is not None
            if not fits(target_unit, counted_unit(unit, indicator.count_noun)):
                raise DefinitionError(
                    f"{where}: key '{key}.unit': found '{target.unit}', expected a unit "
                    f"convertible to the indicator's '{indicator.unit}'."
                )
            for field, value, known, table in (
                ("initiative", target.initiative, initiatives, "initiative"),
                ("geography", target.geography, geographies, "geography"),
                ("source", target.source, sources, "source"),
                # a contributor is a geography: the country whose part of the programme counts
                ("contributor", target.contributor, geographies, "geography"),
            ):
                if value is not None and value not in known:
                    raise DefinitionError(
                        f"{where}: key '{key}.{field}': found '{value}', which is not in the "
                        f"{table} reference table."
                    )


# An import's source: the mapping file says what it is; `published` only moves forward, so
# importing an older release of a dataset never makes its source look older than it is.
RECORD_SOURCE = """
MERGE INTO sources AS t
USING (SELECT $id::TEXT AS id, $title::TEXT AS title, $publisher::TEXT AS publisher,
              $url::TEXT AS url, $published::DATE AS published, $kind::TEXT AS kind,
              $note::TEXT AS note) AS s
ON t.id = s.id
WHEN MATCHED THEN UPDATE SET
    title = s.title, publisher = s.publisher, url = s.url,
    published = greatest(t.published, s.published), kind = s.kind, note = s.note
WHEN NOT MATCHED THEN INSERT (id, title, publisher, url, published, kind, note)
    VALUES (s.id, s.title, s.publisher, s.url, s.published, s.kind, s.note)
"""


def record_source(conn: Connection, source: SourceRecord) -> None:
    """Add or update the `sources` row an import cites, inside the caller's transaction."""
    conn.execute(
        RECORD_SOURCE,
        {"id": source.id, "title": source.title, "publisher": source.publisher,
         "url": source.url, "published": source.published, "kind": source.kind,
         "note": source.note},
    )  # fmt: skip


# --- what ingest needs ---------------------------------------------------------------------


def catalog(conn: Connection) -> Catalog:
    """The names a CSV may use: indicators, initiatives, geographies, sources, currencies."""
    indicators = {
        row[0]: IndicatorInfo(
            row[0],
            row[1],
            row[2],
            float(row[3]),
            row[4],
            row[5],
            row[6],
            row[7],
            row[8],
            bool(row[9]),
        )
        for row in conn.execute(
            "SELECT id, dimension, base_unit, multiplier, default_initiative, unit, count_noun, "
            "fiscal_year_start_month, fiscal_year_named_by, context FROM indicators"
        ).fetchall()
    }
    names: dict[str, str] = {}
    by_name: dict[str, set[str]] = {}
    for geo_id, name in conn.execute("SELECT id, name FROM geographies").fetchall():
        names[geo_id] = name
        by_name.setdefault(name_key(str(name)), set()).add(geo_id)
    for geo_id in names:  # 'micronesia' is a region's id and (any case) a country's name
        by_name.setdefault(str(geo_id).lower(), set()).add(geo_id)
    geographies = {key: ids.pop() for key, ids in by_name.items() if len(ids) == 1}
    ambiguous = {key: tuple(sorted(ids)) for key, ids in by_name.items() if len(ids) > 1}
    source_rows = conn.execute("SELECT id, title, url FROM sources").fetchall()
    currencies = {r[0] for r in conn.execute("SELECT DISTINCT currency FROM fx_rates").fetchall()}
    return Catalog(
        indicators=indicators,
        initiatives={r[0] for r in conn.execute("SELECT id FROM initiatives").fetchall()},
        geographies=geographies,
        sources={row[0]: row[1] for row in source_rows},
        source_titles={row[1]: row[0] for row in source_rows},
        source_urls={row[2]: row[0] for row in source_rows if row[2]},
        currencies=currencies | {"USD"},
        geography_names=names,
        ambiguous_geographies=ambiguous,
    )
