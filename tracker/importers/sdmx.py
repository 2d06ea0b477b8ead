"""SDMX data messages -> tracker's long rows and ECB exchange rates (`tracker import sdmx`).

Read by `sdmx1` (`sdmx.read_sdmx`), offline: SDMX-ML 2.1 and 3.0 data messages, generic and
structure-specific, SDMX-JSON 1.0, SDMX-CSV 2.0 and 1.0 (1.0 is given to sdmx1 as 2.0: its
`DATAFLOW` column becomes `STRUCTURE,STRUCTURE_ID`). A structure-specific message and an
SDMX-CSV file cannot be read without their data structure (which cells are dimensions, which
are attributes): it is taken from a structure message given among the FILEs, by the id the
data names (`ECB:ECB_EXR1(1.0)`, or its dataflow's); nothing is fetched from the network, and
without it the file is refused. A structure message no data file uses is refused as data.

Each series is matched to a mapping entry by its key (`M.USD.EUR.SP00.A`, dimension values
in order) or by dimension values (`match = {FREQ = "A", COUNTERPART_AREA = ["KZ", "UZ"]}`);
a series no entry matches is refused, naming its key, unless a mapping says `unmapped =
"skip"`; one that two entries match is refused. A row's geography is the series' REF_AREA
(or the dimension `geography_from` names); a two-letter code is ISO alpha-2, as the IMF and
the ECB write countries, and goes in as its alpha-3 (`KZ` -> `KAZ`).

An entry with `sum_over` (IMF DOTS: `sum_over = "INDICATOR"` over exports TXG_FOB_USD and
imports TMG_CIF_USD, China's total trade with each partner) makes one row per group of
series that differ only in that dimension and period: the exact decimal sum of their values,
made only where every listed series has a value (else a warning names what is missing),
refused where their UNIT_MULT or unit differ; the note names the series and values added.
An OBS_STATUS other than A (normal) is never dropped: E (estimated) gives the qualifier
`approximate`, and every status is said in the row's note; F (forecast) and codes tracker
does not know are refused. Entries with `target = "fx_rates"` collect ECB EXR
observations, made into annual USD rates by `importers.fx_rates` over all files of the import.
A series whose UNIT_MULT attribute differs from the entry's `scale` is refused: its values
would be read a power of ten wrong. Periods are SDMX's (`2019`, `2019-Q1`, `2019-01`,
`2019-01-02`, and `2019-S1` -> `2019-H1`, `2019-M01` -> `2019-01`).
"""

from __future__ import annotations

import contextlib
import csv
import decimal
import io
import logging
import math
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.importers.batch import ROW_COLUMNS, WHERE, FileRefused, FileRows
from tracker.importers.fx_rates import ExrObservation
from tracker.importers.mappings import Mapping, Series
from tracker.text import show

if TYPE_CHECKING:
    import polars as pl  # imported only for series of indicators: EXR files make no frame

FORMATS = (
    "an SDMX data message: SDMX-ML 2.1 or 3.0 (generic, or structure-specific with its "
    "structure message as another FILE), SDMX-JSON 1.0, or SDMX-CSV 1.0 or 2.0 (with its "
    "structure message as another FILE)"
)
SHOWN = 5
STRUCTURE_SPECIFIC = re.compile(rb"<(?:\w+:)?StructureSpecific(?:TimeSeries)?Data[\s>]")
STRUCTURE_MESSAGE = re.compile(rb"<(?:\w+:)?Structure[\s>]")
REFERENCE = re.compile(
    r"(?:DataStructure|Dataflow)=([\w.-]+):([\w.-]+)\(([\w.]+)\)|"
    r"<(?:\w+:)?Ref\b[^>]*?\bid=\"([\w.-]+)\"|^([\w.-]+):([\w.-]+)\(([\w.]+)\)$"
)
PERIOD_FORMS = (
    (re.compile(r"^(\d{4})-S([12])$"), r"\1-H\2"),
    (re.compile(r"^(\d{4})-M(\d{2})$"), r"\1-\2"),
    (re.compile(r"^(\d{4})-A1?$"), r"\1"),
    (re.compile(r"^(\d{4})-Q([1-4])$"), r"\1-Q\2"),
)
# SDMX's OBS_STATUS codes (code list CL_OBS_STATUS) a row can carry: in its note, and E as
# tracker's qualifier `approximate`. F (forecast) and unknown codes are refused: a forecast
# is not an observation, and an unknown status cannot be said.
OBS_STATUS = {
    "A": "", "E": "estimated", "P": "provisional", "B": "break in series", "I": "imputed",
    "U": "low reliability", "V": "unvalidated", "D": "definition differs",
    "G": "experimental", "N": "not significant", "S": "strike", "K": "included in another category",
}  # fmt: skip
QUALIFIER_OF_STATUS = {"E": "approximate"}
QUALIFIER = "qualifier"
SHOWN_WARNINGS = 10
# key, period, value, UNIT_MULT (None: not given), OBS_STATUS ('' none), unit ('' none)
Observation = tuple[dict[str, str], str, Any, int | None, str, str]


@dataclass(frozen=True)
class Addend:
    """One series' observation of a period, to be added into a sum entry's total."""

    series_key: str
    text: str | None  # None: no value
    multiplier: int | None
    status: str
    unit: str


@dataclass(frozen=True)
class Structures:
    """The data structures and dataflows of the structure messages given among the FILEs."""

    by_id: dict[str, Any]  # DSD or dataflow id -> the DSD
    files: dict[str, Path]  # DSD or dataflow id -> the file that holds it
    paths: tuple[Path, ...]  # every structure message given


class SdmxReader:
    """The adapter of `tracker import sdmx`; `with_files` sees every FILE first, to take the
    structure messages that structure-specific and SDMX-CSV files need."""

    def __init__(self, structures: Structures | None = None) -> None:
        self.structures = structures or Structures({}, {}, ())
        self.used: set[Path] = set()

    def with_files(self, files: Sequence[tuple[Path, bytes]]) -> SdmxReader:
        """A reader that knows the structure messages among `files`."""
        by_id: dict[str, Any] = {}
        where: dict[str, Path] = {}
        paths = []
        for path, raw in files:
            if not _is_structure(raw):
                continue
            try:
                message = _read(raw, path.suffix)
            except Exception:  # refused when it is read as data, with the reason
                continue
            if type(message).__name__ != "StructureMessage":
                continue  # a metadata message: refused when it is read as data
            paths.append(path)
            for dsd in message.structure.values():
                by_id.setdefault(str(dsd.id), dsd)
                where.setdefault(str(dsd.id), path)
            for flow in message.dataflow.values():
                if getattr(flow, "structure", None) is not None:
                    by_id.setdefault(str(flow.id), flow.structure)
                    where.setdefault(str(flow.id), path)
        reader = SdmxReader(Structures(by_id, where, tuple(paths)))
        for path, raw in files:
            if path not in reader.structures.paths:
                with contextlib.suppress(FileRefused):  # refused when it is read
                    reader._structure_for(path, raw)
        return reader

    def __call__(self, path: Path, raw: bytes, mapping: Mapping) -> FileRows:
        """One SDMX file as tracker's long rows and EXR observations, mapped by `mapping`."""
        if path in self.structures.paths:
            if path in self.used:
                return FileRows(rows=None)
            raise FileRefused(
                f"{path}: found a structure message (data structures, codelists, dataflows), "
                f"not data; expected {FORMATS}. Give a structure message only beside the "
                "structure-specific or SDMX-CSV data it describes."
            )
        return read_data(path, raw, mapping, self._structure_for(path, raw))

    def _structure_for(self, path: Path, raw: bytes) -> Any:
        """The data structure a structure-specific or SDMX-CSV file needs, or None."""
        text_like = raw[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
        is_csv = not text_like.startswith((b"<", b"{", b"["))
        if not is_csv and not STRUCTURE_SPECIFIC.search(raw[:4096]):
            return None
        first = text_like.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        if is_csv and not re.match(r"^\W*(STRUCTURE|DATAFLOW)\b", first, re.IGNORECASE):
            hint = (
                " (a World Bank CSV: use `tracker import worldbank`)"
                if "Data Source" in (first) or "Country Code" in first
                else ""
            )
            raise FileRefused(
                f"{path}: line 1 reads '{show(first, 80)}'{hint}; expected {FORMATS}: an "
                "SDMX-CSV file starts with a STRUCTURE (2.0) or DATAFLOW (1.0) column."
            )
        kind = "an SDMX-CSV file" if is_csv else "a structure-specific SDMX-ML message"
        wanted = _references(raw, is_csv)
        for name in wanted:
            if name in self.structures.by_id:
                self.used.add(self.structures.files[name])
                return self.structures.by_id[name]
        given = ", ".join(sorted(self.structures.by_id)) or "none"
        named = ", ".join(wanted) or "(no structure id found in the file)"
        raise FileRefused(
            f"{path}: {kind} is read only with its data structure, which it names "
            f"{named}; the structure messages given hold {given}. Give the structure message "
            "(the DSD or dataflow, as downloaded with the data) as another FILE; tracker "
            "fetches nothing from the network."
        )


def read_data(path: Path, raw: bytes, mapping: Mapping, structure: Any) -> FileRows:
    """The rows of one SDMX data message (`structure`: its DSD, or None when not needed)."""
    try:
        message = _read(_as_csv_2(raw) if _is_csv_1(raw) else raw, path.suffix, structure)
    except Exception as error:  # sdmx1 raises many kinds; each means "not readable"
        reason = show(str(error).strip().splitlines()[0] if str(error).strip() else "", 160)
        raise FileRefused(
            f"{path}: sdmx1 cannot read it as SDMX ({type(error).__name__}: {reason}); "
            f"expected {FORMATS}. SDMX-JSON 2.0 and SDMX-ML 3.0 structure-specific data "
            "without a structure are not read."
        ) from None
    kind = type(message).__name__
    if kind != "DataMessage":
        what = {
            "StructureMessage": "a structure message (data structures, codelists, dataflows)",
            "MetadataMessage": "a reference metadata message",
            "ErrorMessage": "an error message from an SDMX service",
        }.get(kind, f"an SDMX {kind}")
        raise FileRefused(f"{path}: found {what}, not data; expected {FORMATS}.")
    if not message.data:
        footer = getattr(message, "footer", None)
        said = " ".join(str(t) for t in getattr(footer, "text", []) or [])
        raise FileRefused(
            f"{path}: the data message holds no data set"
            + (f" (its footer says: '{show(said, 200)}')" if said else "")
            + f"; expected {FORMATS} with observations."
        )
    for dataset in message.data:
        action = str(getattr(dataset, "action", "") or "").lower()
        if "delete" in action:
            raise FileRefused(
                f"{path}: a data set has the action Delete (the publisher withdraws "
                "observations); expected data sets of figures (action Replace, Append or "
                "Information). To withdraw a point, use `tracker withdraw`."
            )
    return _rows(path, list(_observations(message)), mapping)


def _rows(path: Path, observations: list[Observation], mapping: Mapping) -> FileRows:
    """Map each observation (key, period, value, UNIT_MULT, OBS_STATUS, unit) through
    `mapping`; sum entries' groups are added up after every observation is read."""
    entries = list(mapping.series.values())
    rows: list[tuple[str, ...]] = []
    fx: list[ExrObservation] = []
    unmatched: dict[str, int] = {}
    missing = 0
    sums: dict[tuple[str, str, str], dict[str, Addend]] = {}  # (entry, group, period) ->
    summing: dict[str, tuple[Series, dict[str, str]]] = {}  # group key -> (entry, its key)
    cache: dict[tuple[tuple[str, str], ...], Series | None] = {}
    for key, period, value, multiplier, status, unit in observations:
        series_key = ".".join(key.values())
        frozen = tuple(key.items())
        if frozen not in cache:
            cache[frozen] = _entry(path, key, series_key, entries)
        entry = cache[frozen]
        if entry is None:
            unmatched[series_key] = unmatched.get(series_key, 0) + 1
            continue
        text = _value_text(value)
        if entry.sum_over is not None:
            group = _group_key(key, entry)
            summing.setdefault(group, (entry, key))
            addends = sums.setdefault((entry.key, group, period), {})
            added = Addend(series_key, text, multiplier, status, unit)
            earlier = addends.get(key[entry.sum_over])
            if earlier is not None and earlier != added:
                raise FileRefused(
                    f"{path}: series {series_key} gives {period} twice ('"
                    f"{show(earlier.text or '')}', '{show(text or '')}'); expected one value "
                    "per series and period."
                )
            addends[key[entry.sum_over]] = added
            if text is None:
                missing += 1
            continue
        if text is None:
            missing += 1
            continue
        where = f"{path} (series {series_key}, {period})"
        if entry.target == "fx_rates":
            fx.append(_fx_row(path, key, series_key, period, text, where))
            continue
        _check_scale(path, series_key, multiplier, entry)
        geography, _ = _geography(entry, key)
        said = _status(path, series_key, period, status)
        note = f"{entry.note}; {said}" if said else entry.note
        rows.append((entry.indicator or "", entry.initiative or "", geography, _period(period),
                     text, entry.unit, entry.source, note, where,
                     QUALIFIER_OF_STATUS.get(status, "")))  # fmt: skip
    if unmatched and not mapping.skip_unmapped:
        keys = sorted(unmatched)
        more = f", and {len(keys) - SHOWN} more" if len(keys) > SHOWN else ""
        raise FileRefused(
            f"{path}: no mapping entry matches the series {', '.join(keys[:SHOWN])}{more} "
            f"(keys of {_dimension_names(observations)}); expected a [[series]] `code` or "
            '`match` for each series (--map), or `unmapped = "skip"` in the mapping to skip '
            "the others."
        )
    totals, not_made = _sums(path, sums, summing)
    rows.extend(totals)
    warnings: tuple[str, ...] = ()
    if not_made:
        extra = len(not_made) - SHOWN_WARNINGS
        more = f"; and {extra} more" if extra > 0 else ""
        shown = "; ".join(not_made[:SHOWN_WARNINGS])
        warnings = (f"{path}: no total made for {shown}{more} (a total needs every series it "
                    "adds).",)  # fmt: skip
    frame = _frame(rows) if rows else None
    return FileRows(rows=frame, unmapped=unmatched, missing=missing, fx=fx or None,
                    warnings=warnings)  # fmt: skip


def _group_key(key: dict[str, str], entry: Series) -> str:
    """The series key with the summed dimension's values: 'A.CN.TXG_FOB_USD+TMG_CIF_USD.KZ'."""
    summed = "+".join(entry.summed())
    return ".".join(summed if d == entry.sum_over else v for d, v in key.items())


def _sums(path: Path, sums: dict[tuple[str, str, str], dict[str, Addend]],
          summing: dict[str, tuple[Series, dict[str, str]]]
          ) -> tuple[list[tuple[str, ...]], list[str]]:  # fmt: skip
    """The rows of the sum entries' totals, and what could not be added ('A.CN.TXG_FOB_USD+
    TMG_CIF_USD.KZ 2021: A.CN.TMG_CIF_USD.KZ has no value')."""
    rows: list[tuple[str, ...]] = []
    not_made: list[str] = []
    for (_, group, period), addends in sums.items():
        entry, key = summing[group]
        absent = [_series_key(key, entry, v) for v in entry.summed()
                  if addends.get(v) is None or addends[v].text is None]  # fmt: skip
        if absent:
            not_made.append(f"{group} {period}: {', '.join(absent)} "
                            f"{'has' if len(absent) == 1 else 'have'} no value")  # fmt: skip
            continue
        parts = [addends[v] for v in entry.summed()]
        named = ", ".join(a.series_key for a in parts)
        for label, values in (("UNIT_MULT", {a.multiplier for a in parts}),
                              ("unit", {a.unit for a in parts})):  # fmt: skip
            if len(values) > 1:
                given = ", ".join(f"{a.series_key} {_said(a, label)}" for a in parts)
                raise FileRefused(
                    f"{path}: the series {named} of the sum {group} ({period}) are in "
                    f"different {label}s ({given}); expected the same {label} in every "
                    "series added, or the total would add unlike figures."
                )
        _check_scale(path, parts[0].series_key, parts[0].multiplier, entry)
        total = decimal.Decimal(0)
        for addend in parts:
            try:
                total += decimal.Decimal(addend.text or "")
            except decimal.InvalidOperation:
                raise FileRefused(
                    f"{path} (series {addend.series_key}, {period}): found "
                    f"'{show(addend.text or '')}', expected a number to add into the sum {group}."
                ) from None
        geography, name = _geography(entry, key)
        said = [f"{a.series_key}: {s}" for a in parts
                if (s := _status(path, a.series_key, period, a.status))]  # fmt: skip
        qualifier = "approximate" if any(a.status in QUALIFIER_OF_STATUS for a in parts) else ""
        counterpart = f" with {name}" if name else ""
        added = " + ".join(f"{a.series_key} {a.text}" for a in parts)
        scale = f" (UNIT_MULT {parts[0].multiplier})" if parts[0].multiplier is not None else ""
        note = (
            f"{entry.note}{counterpart}, {_period(period)}: sum made by tracker of {added}"
            f"{scale}" + (f"; {'; '.join(said)}" if said else "")
        )
        rows.append((entry.indicator or "", entry.initiative or "", geography, _period(period),
                     format(total, "f"), entry.unit, entry.source, note,
                     f"{path} (series {group}, {period})", qualifier))  # fmt: skip
    return rows, not_made


def _series_key(key: dict[str, str], entry: Series, value: str) -> str:
    return ".".join(value if d == entry.sum_over else v for d, v in key.items())


def _said(addend: Addend, label: str) -> str:
    if label == "unit":
        return f"unit '{addend.unit}'" if addend.unit else "no unit"
    return f"UNIT_MULT {addend.multiplier}" if addend.multiplier is not None else "no UNIT_MULT"


def _check_scale(path: Path, series_key: str, multiplier: int | None, entry: Series) -> None:
    """Refuse a series whose UNIT_MULT is not the entry's `scale`."""
    if multiplier is not None and multiplier != entry.scale:
        raise FileRefused(
            f"{path}: series {series_key} gives UNIT_MULT {multiplier} (values in 10^"
            f"{multiplier} units) but its mapping {entry.key} says scale {entry.scale}; "
            "expected the same power of ten: set `scale` to match, or it would be read "
            f"{abs(multiplier - entry.scale)} power(s) of ten wrong."
        )


def _geography(entry: Series, key: dict[str, str]) -> tuple[str, str]:
    """The row's geography (the entry's, else the series' REF_AREA or `geography_from`
    dimension; an ISO alpha-2 code as its alpha-3) and the country's name ('' unknown)."""
    if entry.geography:
        return entry.geography, ""
    # imported here: tracker.ingest loads polars, which exchange-rate imports never need
    from tracker.ingest.geographies import alpha2_country

    code = key.get(entry.geography_from or "REF_AREA", "")
    country = alpha2_country(code) if len(code) == 2 else None
    return country if country is not None else (code, "")


def _status(path: Path, series_key: str, period: str, status: str) -> str:
    """What a row's note says of an OBS_STATUS ('' for none or A, normal)."""
    if not status:
        return ""
    if status not in OBS_STATUS:
        known = ", ".join(f"{c} ({w or 'normal'})" for c, w in OBS_STATUS.items())
        raise FileRefused(
            f"{path} (series {series_key}, {period}): OBS_STATUS '{show(status)}'"
            + (" (forecast: not an observation)" if status == "F" else ", a status tracker "
               "does not know") + f"; expected one of {known}. Leave the observation out of "
            "the file, or map the series elsewhere."
        )  # fmt: skip
    word = OBS_STATUS[status]
    return f"{word} (OBS_STATUS {status})" if word else ""


def _frame(rows: list[tuple[str, ...]]) -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(rows, schema=[*ROW_COLUMNS, WHERE, QUALIFIER], orient="row")


def _fx_row(path: Path, key: dict[str, str], series_key: str, period: str, text: str,
            where: str) -> ExrObservation:  # fmt: skip
    """An EXR observation for fx_rates: currency, frequency, period, per-euro value, key."""
    needed = ("FREQ", "CURRENCY", "CURRENCY_DENOM")
    absent = [d for d in needed if d not in key]
    if absent or key["CURRENCY_DENOM"] != "EUR":
        raise FileRefused(
            f"{where}: an fx_rates series must be an ECB EXR series of units of CURRENCY "
            f"per euro (dimensions FREQ, CURRENCY, CURRENCY_DENOM = EUR); found "
            f"{', '.join(f'{k}={v}' for k, v in key.items())}."
        )
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise FileRefused(
            f"{where}: found '{show(text)}', expected a positive number of {key['CURRENCY']} "
            "per euro."
        )
    if not re.match(r"\d{4}(?:$|-)", period):
        raise FileRefused(
            f"{where}: found the period '{show(period)}', expected a year, month or day "
            "(2019, 2019-01, 2019-01-02) of an ECB EXR series."
        )
    return ExrObservation(key["CURRENCY"], key["FREQ"], _period(period), number, series_key)


def _entry(path: Path, key: dict[str, str], series_key: str, entries: list[Series]
           ) -> Series | None:  # fmt: skip
    """The one mapping entry for a series, None when none; two are refused."""
    found = [
        e for e in entries
        if (e.match and all(key.get(d) in v for d, v in e.match))
        or (not e.match and e.code == series_key)
    ]  # fmt: skip
    if len(found) > 1:
        raise FileRefused(
            f"{path}: the series {series_key} is matched by {found[0].key} and {found[1].key}; "
            "expected one mapping entry per series: narrow a `match`."
        )
    return found[0] if found else None


def _observations(message: Any) -> Iterator[Observation]:
    """Each observation: its dimension values but time (in key order), its period, its
    value, the UNIT_MULT of the observation, series or data set (None: not given), its
    OBS_STATUS and its unit attribute (UNIT or UNIT_MEASURE; '' when not given)."""
    for dataset in message.data:
        set_attributes = getattr(dataset, "attrib", {})
        set_mult = _multiplier(set_attributes)
        for obs in dataset.obs:
            values = {str(k): _code(kv.value) for k, kv in obs.key.values.items()}
            period = ""
            for name in ("TIME_PERIOD", "TIME"):
                if name in values:
                    period = values.pop(name)
                    break
            series = getattr(obs, "series_key", None)
            attached = obs.attached_attribute
            series_attributes = getattr(series, "attrib", {}) if series is not None else {}
            mult = _multiplier(attached)
            if mult is None and series is not None:
                mult = _multiplier(series_attributes)
            status = attached.get("OBS_STATUS") if attached else None
            yield (values, period, obs.value, set_mult if mult is None else mult,
                   "" if status is None else _code(getattr(status, "value", status)),
                   _unit(attached, series_attributes, set_attributes))  # fmt: skip


def _unit(*levels: Any) -> str:
    """The first UNIT or UNIT_MEASURE attribute of an observation, its series or data set."""
    for attributes in levels:
        for name in ("UNIT", "UNIT_MEASURE"):
            value = attributes.get(name) if attributes else None
            if value is not None:
                return _code(getattr(value, "value", value))
    return ""


def _multiplier(attributes: Any) -> int | None:
    value = attributes.get("UNIT_MULT") if attributes else None
    if value is None:
        return None
    text = _code(getattr(value, "value", value))
    return int(text) if text.lstrip("-").isdigit() else None


def _code(value: Any) -> str:
    """A dimension or attribute value as text: a Code's id, else the value."""
    return str(getattr(value, "id", value))


def _value_text(value: Any) -> str | None:
    """The observation's value as its text, or None for no value (NaN, empty)."""
    if value is None:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) else repr(value)
    text = str(getattr(value, "value", value)).strip()
    return None if text.lower() in ("", "nan", "na", "-") else text


def _period(period: str) -> str:
    for pattern, replacement in PERIOD_FORMS:
        if pattern.match(period):
            return pattern.sub(replacement, period)
    return period


def _dimension_names(observations: list[Observation]) -> str:
    return ".".join(observations[0][0]) if observations else "no dimensions"


def _is_structure(raw: bytes) -> bool:
    head = raw[:4096]
    return (
        b"<" in head[:200]
        and bool(STRUCTURE_MESSAGE.search(head))
        and (b"Structure>" in raw or b":Structure " in head)
        and not re.search(rb"<(?:\w+:)?(?:Generic|StructureSpecific)\w*Data[\s>]", head)
    )


def _is_csv_1(raw: bytes) -> bool:
    return raw.lstrip(b"\xef\xbb\xbf").upper().startswith(b"DATAFLOW,")


def _as_csv_2(raw: bytes) -> bytes:
    """SDMX-CSV 1.0 (`DATAFLOW,...`) as SDMX-CSV 2.0 (`STRUCTURE,STRUCTURE_ID,...`)."""
    reader = csv.reader(io.StringIO(raw.decode("utf-8-sig")))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for number, row in enumerate(reader):
        if not row:
            continue
        writer.writerow(["STRUCTURE", "STRUCTURE_ID", *row[1:]] if number == 0
                        else ["dataflow", *row])  # fmt: skip
    return out.getvalue().encode("utf-8")


def _references(raw: bytes, is_csv: bool) -> list[str]:
    """The structure ids a data file names: its DSD or dataflow (ECB_EXR1, EXR)."""
    if is_csv:
        text = raw.decode("utf-8-sig", "replace").splitlines()[1:2]
        cells = next(csv.reader(text), []) if text else []
        candidates = [c for c in cells[:2] if ":" in c]
    else:
        candidates = [raw[:8192].decode("utf-8", "replace")]
    found: list[str] = []
    for candidate in candidates:
        for match in REFERENCE.finditer(candidate):
            name = match.group(2) or match.group(4) or match.group(6)
            if name and name not in found:
                found.append(name)
    return found


def _read(raw: bytes, suffix: str, structure: Any = None) -> Any:
    """sdmx1's message for `raw`, its prints, log lines and warnings held back."""
    import sdmx  # here, not at the top: only `tracker import sdmx` loads it

    kwargs: dict[str, Any] = {} if structure is None else {"structure": structure}
    hint = {".json": "JSON", ".csv": "CSV", ".xml": "XML"}.get(suffix.lower())
    logger = logging.getLogger("sdmx")
    level, logger.level = logger.level, logging.CRITICAL
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            return sdmx.read_sdmx(io.BytesIO(raw), format=hint, **kwargs)
    finally:
        logger.level = level
