"""Everyday entry of figures: `tracker add` (one figure), `template` (a CSV ready to fill),
`withdraw` (a point, as a new vintage) and `history` (every vintage of the points).

`add` and `withdraw` build a one-row table and send it through `ingest.load`/`ingest.prepare`,
the path every CSV takes, so a figure typed on the command line is checked exactly as a CSV
cell is. The store and ingest packages are imported inside the commands.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from tracker.cli import sql_output
from tracker.cli.shared import Force, OutputFile, db_path, err, out, refuse_to_overwrite, reported
from tracker.errors import IngestError, InputError, UnknownNameError
from tracker.text import amount, did_you_mean, exact, show

if TYPE_CHECKING:
    from tracker import store
    from tracker.ingest import PreparedBatch
    from tracker.models import BatchSummary, Catalog, IndicatorInfo

# How the one row of `add` and `withdraw` is named in batches.files (and in messages).
ADD_NAME = "tracker add"
WITHDRAW_NAME = "tracker withdraw"
ENTRY_ADVICE = 'See README "CSV format" for what each option accepts.'
# The one-row table is tab-separated: like a ';'-separated file, a number whose reading
# depends on the locale (250,5 or 1,053) is refused as ambiguous unless --locale or
# --decimal says how it is written; a command line has no delimiter to tell.
ROW_DELIMITER = "\t"
_PROBLEM = re.compile(r"^(?:tracker add|tracker withdraw):\d+: (?:column '(\w+)': )?(.*)$", re.S)

Indicator = Annotated[
    str, typer.Argument(metavar="INDICATOR", help="Indicator id (tracker indicators lists them).")
]
InitiativeOption = Annotated[
    str | None,
    typer.Option(help="Programme id (BRI, PGII, GG) \\[default: the indicator's, if any]."),
]
GeographyOption = Annotated[
    str, typer.Option(help="Geography id or name (KAZ, Kazakhstan, central-asia, WLD).")
]
PeriodOption = Annotated[str, typer.Option(help="Period: 2024, 2024-H1, 2024-Q3, 2024-07, FY2025.")]
SourceOption = Annotated[str, typer.Option(help="Source id, or a citation (registered as new).")]


# --- add ----------------------------------------------------------------------------------


def add(
    ctx: typer.Context,
    indicator: Indicator,
    value: Annotated[
        str, typer.Argument(help="The figure as written: 121.8, '$121.8bn', '~22', '>60'.")
    ],
    period: PeriodOption,
    geography: GeographyOption,
    source: SourceOption,
    initiative: InitiativeOption = None,
    unit: Annotated[
        str | None, typer.Option(help="Unit of VALUE \\[default: the indicator's].")
    ] = None,
    qualifier: Annotated[
        str | None, typer.Option(help="approximate, more than, at least, less than, up to.")
    ] = None,
    note: Annotated[str | None, typer.Option(help="A note kept with the figure.")] = None,
    contributor: Annotated[
        str | None,
        typer.Option(help="Whose part of the programme the figure counts (USA) \\[default: all]."),
    ] = None,
    locale: Annotated[
        str | None, typer.Option(help="How VALUE writes numbers, e.g. de (1.234,5), fr, en_IN.")
    ] = None,
    decimal: Annotated[
        str | None, typer.Option(help="Only the decimal mark of VALUE, '.' or ','.")
    ] = None,
) -> None:
    """Add one figure, checked exactly as a CSV row of `tracker ingest` is; one batch."""
    from tracker import ingest, store

    path = db_path(ctx)
    fields = {
        "indicator": indicator, "initiative": initiative or "", "geography": geography,
        "period": period, "value": value, "unit": unit or "", "source": source,
        "note": note or "", "qualifier": qualifier or "", "contributor": contributor or "",
    }  # fmt: skip
    options = ingest.IngestOptions(delimiter=ROW_DELIMITER, locale=locale, decimal=decimal)
    with reported():

        def add_row(conn: store.Connection) -> tuple[PreparedBatch, BatchSummary, IndicatorInfo]:
            store.sync_definitions(conn)
            one_row = ingest.InlineCsv(ADD_NAME, _row_csv(fields))
            prepared, summary = _as_options(lambda: ingest.load(conn, [one_row], options))
            return prepared, summary, store.catalog(conn).indicators[prepared.rows["indicator"][0]]

        prepared, summary, info = store.write_transaction(path, add_row, what="the figure")
        row = prepared.rows.row(0, named=True)
        figure = amount(row["value"], info.unit, row["currency"], info.count_noun,
                        row["qualifier"])  # fmt: skip
        point = _point_text(row)
        if summary.batch_id is None:
            out.print(f"nothing new: {point} is already {figure}; nothing was written.")
            return
        what = "new" if summary.rows_new else "a revision"
        out.print(f"added {point}: {figure} ({what}) as batch {summary.batch_id}.")
        from tracker.cli.alerts import check_after_load

        check_after_load(path)


def _row_csv(fields: dict[str, str]) -> bytes:
    """The header and one row, tab-separated, quoted where a field needs it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=ROW_DELIMITER, lineterminator="\n")
    writer.writerow(fields)
    writer.writerow(fields.values())
    return buffer.getvalue().encode("utf-8")


def _as_options(work: Any) -> Any:
    """`work()`, its ingest problems said of the command's options ('--geography: found
    ...') instead of a CSV line and column."""
    try:
        return work()
    except IngestError as error:
        raise IngestError([_option_problem(p) for p in error.problems], ENTRY_ADVICE,
                          error.total) from None  # fmt: skip


def _option_problem(problem: str) -> str:
    match = _PROBLEM.match(problem)
    if match is None:
        return problem
    column, message = match.groups()
    if column is None:
        return message
    name = {"indicator": "INDICATOR", "value": "VALUE"}.get(column, f"--{column}")
    return f"{name}: {message}"


def _point_text(row: dict[str, Any]) -> str:
    from tracker.models import CONTEXT_INITIATIVE

    initiative = "" if row["initiative"] == CONTEXT_INITIATIVE else f" {row['initiative']}"
    return (
        f"{row['indicator']}{initiative} {row['geography']} {row['period']} "
        f"(source {row['source']})"
    )


# --- withdraw -----------------------------------------------------------------------------


def withdraw(
    ctx: typer.Context,
    indicator: Indicator,
    period: PeriodOption,
    geography: GeographyOption,
    source: SourceOption,
    reason: Annotated[str, typer.Option(help="Why the point is withdrawn (kept with it).")],
    initiative: InitiativeOption = None,
) -> None:
    """Withdraw a wrong point as a new vintage: history kept, views skip it; one batch."""
    from tracker import ingest, store

    path = db_path(ctx)
    with reported():
        if not reason.strip():
            raise InputError("--reason: found nothing; say why the point is withdrawn.")
        # The point named as a row names it: ids, names and period forms resolve as in a CSV.
        fields = {
            "indicator": indicator, "initiative": initiative or "", "geography": geography,
            "period": period, "value": "0", "source": source,
        }  # fmt: skip
        options = ingest.IngestOptions(delimiter=ROW_DELIMITER)

        def withdraw_row(conn: store.Connection) -> tuple[dict[str, Any], int]:
            store.sync_definitions(conn)
            one_row = ingest.InlineCsv(WITHDRAW_NAME, _row_csv(fields))
            prepared = _as_options(lambda: ingest.prepare([one_row], store.catalog(conn), options))
            row = prepared.rows.row(0, named=True)
            key = [row[k] for k in ("indicator", "initiative", "geography", "period", "source")]
            return row, store.withdraw_point(conn, key, reason.strip())

        row, batch_id = store.write_transaction(path, withdraw_row, what="the withdrawal")
        out.print(f"withdrew {_point_text(row)} as batch {batch_id}: {reason.strip()}")


# --- template -----------------------------------------------------------------------------


def template(
    ctx: typer.Context,
    indicator: Indicator,
    wide: Annotated[
        bool, typer.Option("--wide", help="One column per period instead of a period column.")
    ] = False,
    geographies: Annotated[
        list[str] | None,
        typer.Option(help="Geographies, comma-separated (KAZ,UZB); one row each \\[default: WLD]."),
    ] = None,
    periods: Annotated[
        list[str] | None, typer.Option(help="Periods, comma-separated (2024,2025).")
    ] = None,
    output: OutputFile = None,
    force: Force = False,
) -> None:
    """Write a CSV ready to fill for an indicator; `tracker ingest` loads it once filled."""
    from tracker import files, store

    path = db_path(ctx)
    with reported():
        refuse_to_overwrite(output, force)
        with store.connect(path, read_only=True) as conn:
            catalog = store.catalog(conn)
        info = _indicator(catalog, indicator)
        geography_ids = _geographies(catalog, _listed(geographies) or ["WLD"])
        period_texts = _periods(info, _listed(periods))
        if wide and not period_texts:
            raise InputError("--wide: needs --periods, one column each (--periods 2024,2025).")
        text = _template_csv(info, geography_ids, period_texts, wide)
        if output is None:
            sys.stdout.write(text)
            return
        files.write_atomically(output, [text.encode("utf-8")])
        err.print(f"wrote {output}: fill in value and source, then `tracker ingest {output}`.")


def _listed(values: list[str] | None) -> list[str]:
    """'KAZ,UZB' and repeated options as one list, blanks dropped."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _indicator(catalog: Catalog, indicator: str) -> IndicatorInfo:
    if indicator in catalog.indicators:
        return catalog.indicators[indicator]
    known = sorted(catalog.indicators)
    raise UnknownNameError(
        f"INDICATOR: found '{show(indicator)}', unknown indicator.{did_you_mean(indicator, known)}"
        f" Known: {', '.join(known)}."
    )


def _geographies(catalog: Catalog, texts: list[str]) -> list[str]:
    from tracker.ingest.geographies import GeographyResolver

    resolver = GeographyResolver(catalog)
    found: list[str] = []
    problems = []
    for text in texts:
        geography = resolver(text)
        if geography is None:
            problems.append(
                f"--geographies: found '{show(text)}', unknown geography"
                f"{resolver.suggestion(text)}."
            )
        elif geography not in found:
            found.append(geography)
    if problems:
        raise UnknownNameError(" ".join(problems) + " Nothing was written.")
    return found


def _periods(info: IndicatorInfo, texts: list[str]) -> list[str]:
    from tracker.periods import FiscalYear, parse_period

    fiscal = FiscalYear.of(info.fiscal_year_start_month, info.fiscal_year_named_by)
    found: list[str] = []
    for text in texts:
        period = parse_period(text, fiscal)
        if period is None:
            raise InputError(
                f"--periods: found '{show(text)}', not a period of {info.id}; expected 2024, "
                "2024-H1, 2024-Q3, 2024-07 or 2024-07-15 (FY2025 for an indicator with a "
                'fiscal year); see README "CSV format". Nothing was written.'
            )
        if period.text not in found:
            found.append(period.text)
    return found


def _template_csv(info: IndicatorInfo, geographies: list[str], periods: list[str],
                  wide: bool) -> str:  # fmt: skip
    """The CSV text: the long header and one row per geography and period, or the wide one."""
    initiative = "" if info.context else info.default_initiative or ""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if wide:
        writer.writerow(["indicator", "initiative", "geography", "unit", "source", "note",
                         *periods])  # fmt: skip
        for geography in geographies:
            writer.writerow([info.id, initiative, geography, info.unit, "", "",
                             *([""] * len(periods))])  # fmt: skip
        return buffer.getvalue()
    from tracker.ingest import LONG_COLUMNS

    writer.writerow(LONG_COLUMNS)
    for geography in geographies:
        for period in periods or [""]:
            cells = {"indicator": info.id, "initiative": initiative, "geography": geography,
                     "period": period, "unit": info.unit}  # fmt: skip
            writer.writerow([cells.get(column, "") for column in LONG_COLUMNS])
    return buffer.getvalue()


# --- history ------------------------------------------------------------------------------

HISTORY_SQL = """
SELECT o.indicator, o.initiative, o.geography, o.period, o.source, o.recorded_at,
       o.superseded_at, o.value, o.qualifier, o.currency, i.unit, i.count_noun,
       o.value_as_given, o.unit_as_given, o.note, o.batch, o.withdrawn IS TRUE AS withdrawn,
       o.withdrawn_reason
FROM observations AS o
JOIN indicators AS i ON i.id = o.indicator
WHERE o.indicator = ?1
  AND (?2 IS NULL OR o.initiative = ?2)
  AND (?3 IS NULL OR o.geography = ?3)
  AND (?4 IS NULL OR o.period = ?4)
  AND (?5 IS NULL OR o.source = ?5)
ORDER BY o.initiative, o.geography, o.source, o.period_end DESC, o.period_start ASC,
         o.period, o.recorded_at DESC
"""
HISTORY_COLUMNS = (
    "indicator", "initiative", "geography", "period", "source", "recorded_at", "superseded_at",
    "figure", "value", "qualifier", "unit", "currency", "value_as_given", "unit_as_given",
    "note", "batch", "withdrawn", "withdrawn_reason",
)  # fmt: skip


def history(
    ctx: typer.Context,
    indicator: Indicator,
    initiative: Annotated[str | None, typer.Option(help="Only this programme id.")] = None,
    geography: Annotated[str | None, typer.Option(help="Only this geography (id or name).")] = None,
    period: Annotated[str | None, typer.Option(help="Only this period.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source id.")] = None,
    output: Annotated[
        str, typer.Option("--format", help="table, csv or json.", case_sensitive=False)
    ] = "table",
) -> None:
    """Every vintage of an indicator's points, newest first per point, withdrawals included."""
    from tracker import store

    path = db_path(ctx)
    with reported():
        output = sql_output.output_format(output)
        with store.connect(path, read_only=True) as conn:
            catalog = store.catalog(conn)
            info = _indicator(catalog, indicator)
            where = [
                info.id,
                initiative,
                None if geography is None else _geographies(catalog, [geography])[0],
                None if period is None else _period_filter(info, period),
                None if source is None else catalog.source_titles.get(source, source),
            ]
            records = store.query_rows(conn, HISTORY_SQL, where).records()
        rows = [_history_row(record) for record in records]
        if not rows:
            err.print(f"No vintages of {info.id} match; nothing to show.")
        if output == "csv":
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(HISTORY_COLUMNS)
            writer.writerows([_cell(row[c]) for c in HISTORY_COLUMNS] for row in rows)
        elif output == "json":
            json.dump([{c: _json(row[c]) for c in HISTORY_COLUMNS} for row in rows], sys.stdout,
                      ensure_ascii=False, indent=1)  # fmt: skip
            sys.stdout.write("\n")
        elif rows:
            out.print(_history_table(info.id, rows))


def _period_filter(info: IndicatorInfo, text: str) -> str:
    """The stored form of a period given as any form ingest reads ('H1 2024': '2024-H1')."""
    return _periods(info, [text])[0]


def _history_row(record: dict[str, Any]) -> dict[str, Any]:
    """One vintage with its figure written by tracker.text; a withdrawal has no figure of
    its own (it carries the values it ended, shown on the vintage before it)."""
    row = dict(record)
    if row["withdrawn"]:
        for column in ("value", "qualifier", "currency", "value_as_given", "unit_as_given"):
            row[column] = None
        row["figure"] = "withdrawn"
    else:
        row["figure"] = amount(row["value"], row["unit"], row["currency"], row["count_noun"],
                               row["qualifier"])  # fmt: skip
    return row


def _history_table(indicator: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=f"Vintages of {indicator}, newest first per point")
    for column in ("initiative", "geography", "period", "source", "recorded_at",
                   "superseded_at", "figure", "note", "batch", "status"):  # fmt: skip
        table.add_column(column, justify="right" if column in ("figure", "batch") else "left")
    for row in rows:
        if row["withdrawn"]:
            status = f"withdrawn: {row['withdrawn_reason'] or ''}"
        else:
            status = "current" if row["superseded_at"] is None else "superseded"
        table.add_row(
            row["initiative"], row["geography"], row["period"], row["source"],
            _time(row["recorded_at"]), _time(row["superseded_at"]), row["figure"],
            row["note"] or "", str(row["batch"]), status,
        )  # fmt: skip
    return table


def _time(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return exact(value)
    return str(value)


def _json(value: Any) -> Any:
    """A JSON value: a stored value as its exact text, as `tracker sql --format json` writes
    a DECIMAL ("250.5"; a JSON number would pass through a double in most readers)."""
    if isinstance(value, Decimal):
        return exact(value)
    return value.isoformat(sep=" ") if isinstance(value, datetime) else value
