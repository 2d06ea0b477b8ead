"""Hostile CSV files through the real `tracker ingest` (hypothesis).

Each example is one long-format file mixing valid rows, on names that exist in the shipped
database, with broken ones: bad numbers, numbers that overflow in the indicator's unit, odd
Unicode in id columns (combining marks, RTL and zero-width characters, a BOM, emoji,
homoglyphs, non-ASCII digits), a source id with an invisible character, NUL bytes, lone
surrogates, unbalanced and stray quotes, rows of the wrong length, huge fields and very
long lines. The file goes to the CLI on a fresh copy of the shipped database.

What must hold: never a traceback (exit 0 or 2 only); a file without broken rows loads
exactly its rows, compared with what this test computed from the cells it wrote (never
with tracker's parser), each value exactly (a stored DECIMAL equal to the decimal the test
computed); a row whose value needs more than 12 decimals in the indicator's unit
(`1.2345678901234567e-05`, `0.1234567 MW` in GW) is broken: it is refused, never rounded
(migration 010). A file with any broken row loads nothing (observations, batches
and sources unchanged), and the message names the file and the line of a broken row, and
never the line of a valid row.

What counts as valid follows README "CSV format": ids, names and units in any case (units
as the README writes them) with white space around them; an empty initiative where the
indicator has a default, an empty geography (WLD), an empty unit (the indicator's); free
text (notes, citations as sources) holds any Unicode text but NUL and lone surrogates, and
is trimmed of white space; a quoted note may span lines and hold doubled quotes; a quote
inside an unquoted field is taken as it is. Blank lines and rows of empty fields are
skipped.

CI runs 50 examples; `make test-slow` runs 400.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from decimal import Context, Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from tests.conftest import db_rows, invoke
from tracker.ingest.state import citation_key

HEADER = "indicator,initiative,geography,period,value,unit,source,note"
NOTE = 7  # index of the note column


@dataclass(frozen=True)
class Indicator:
    id: str
    default_initiative: str | None
    label: str  # the indicator's unit, as unit_as_given when the unit cell is empty
    currency: str | None  # money indicators keep their currency
    units: tuple[tuple[str, Decimal], ...]  # unit as written -> factor to the indicator's unit


ONE, THOUSAND, THOUSANDTH = Decimal(1), Decimal(1000), Decimal("0.001")
INDICATORS = (
    Indicator("new_deals", "BRI", "count", None,
              (("", ONE), ("count", ONE), ("thousand", THOUSAND))),
    Indicator("power_capacity", "BRI", "GW", None,
              (("", ONE), ("GW", ONE), ("MW", THOUSANDTH), ("mw", THOUSANDTH))),
    Indicator("financing", None, "USD bn", "USD",
              (("", ONE), ("USD bn", ONE), ("USD m", THOUSANDTH), ("USD tn", THOUSAND))),
    Indicator("trade_central_asia", "BRI", "USD bn", "USD", (("", ONE), ("USD m", THOUSANDTH))),
)  # fmt: skip
# Values are stored exactly with at most 12 decimals in the indicator's unit (migration 010);
# a row whose value needs more is refused, never rounded.
STORED_DECIMALS = 12
EXACT = Context(prec=1000)  # the test's own decimal arithmetic, never rounding
INITIATIVES = (("BRI", "BRI"), ("bri", "BRI"), ("PGII", "PGII"), ("Pgii", "PGII"), ("GG", "GG"))
GEOGRAPHIES = (
    ("", "WLD"), ("WLD", "WLD"), ("wld", "WLD"), ("KAZ", "KAZ"), ("kaz", "KAZ"),
    ("Kazakhstan", "KAZ"), ("KYRGYZSTAN", "KGZ"), ("UZB", "UZB"),
    ("central-asia", "central-asia"), ("Central Asia", "central-asia"),
)  # fmt: skip
# A source id, or the title of a shipped source (which is that source).
SOURCES = (
    ("gfdc-bri-2023", "gfdc-bri-2023"), ("griffith-bri-2024", "griffith-bri-2024"),
    ("China BRI Investment Report 2023", "gfdc-bri-2023"),
)  # fmt: skip

# Odd Unicode that is not white space: in an id column it makes the id unknown.
ODD = (
    "\u0301",  # combining acute accent
    "\u20dd",  # combining enclosing circle
    "\u200b",  # zero-width space
    "\u200d",  # zero-width joiner
    "\u2060",  # word joiner
    "\u00ad",  # soft hyphen
    "\ufeff",  # BOM / zero-width no-break space
    "\u202e",  # right-to-left override
    "\u200f",  # right-to-left mark
    "\u0627\u0644\u0639",  # Arabic letters
    "\u05e2\u05d1",  # Hebrew letters
    "\U0001f680",  # emoji
    "\U0001f469\u200d\U0001f467",  # emoji ZWJ sequence
    "\u0410",  # Cyrillic A (looks like A)
    "\ufffd",  # replacement character
    "\\ud800",  # a surrogate written as text (backslash-u), not a surrogate
)
# Invisible format characters: an id with one of them looks like the id.
INVISIBLE = ("\u200b", "\u200d", "\u2060", "\u00ad", "\ufeff", "\u200e", "\u202c")
# White space that trimming removes (str.strip and polars' strip_chars agree on these).
SPACE = (" ", "\t", "\u00a0", "\u3000", "\u2028")
NOTE_CHARS = st.one_of(
    st.sampled_from([*ODD, *SPACE, "\n", '"', '""', ",", ";", "'", "\\", "=", "é", "ß", "ﬁ"]),
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")),
)
BAD_NUMBERS = (
    "1,2.3", "12,34", "NaN", "nan", "inf", "-Infinity", "1e999", "--5", "", " ", "1.2.3",
    "5\u200b", "\uff15", "\u0661\u0662", "abc", "0x10", "1_000", "1 000", "e5", "1e", "+-1",
    "\u221e", "9" * 400,
)  # fmt: skip
BROKEN_KINDS = (
    "bad number", "overflow", "odd id", "invisible in a source id", "non-ASCII digits",
    "NUL", "surrogate", "unclosed quote", "text after a closing quote", "extra fields",
    "missing fields", "huge id", "blank required",
)  # fmt: skip


@dataclass(frozen=True)
class Row:
    """One record as written (its text ends with the line end): 'valid' with the
    observation it must load as, 'broken', or 'skipped' (a blank line, empty fields)."""

    kind: str
    text: str
    expected: tuple[object, ...] | None = None


class HostileFile:
    """A generated file and what it must do (a plain class: hypothesis shows its repr, not
    its 100,000-character text; `note` shows the text when an example fails)."""

    def __init__(
        self,
        text: str,
        expected: list[tuple[object, ...]],
        broken_lines: set[int],
        valid_lines: set[int],
    ) -> None:
        self.text = text  # the whole file; lone surrogates become their (invalid) UTF-8 bytes
        self.expected = expected  # the rows `observations` must gain when nothing is broken
        self.broken_lines = broken_lines  # every line a broken row spans (header = line 1)
        self.valid_lines = valid_lines  # every line a valid row spans

    @property
    def broken(self) -> bool:
        return bool(self.broken_lines)

    def __repr__(self) -> str:
        return f"HostileFile({len(self.text)} characters, broken lines {sorted(self.broken_lines)})"


def cell(text: str, quoted: bool) -> str:
    return '"' + text.replace('"', '""') + '"' if quoted else text


def needs_quotes(text: str) -> bool:
    return any(c in text for c in ',"\n\r')


@st.composite
def numbers(draw: st.DrawFn) -> tuple[str, Decimal]:
    """A number as a file may write it, and its exact value (the test's own arithmetic)."""
    form = draw(st.sampled_from(["int", "float", "grouped", "exponent"]))
    if form == "int":
        text = str(draw(st.integers(-(10**12), 10**12)))
    elif form == "float":
        x = draw(st.floats(-1e12, 1e12, allow_nan=False, allow_subnormal=False))
        text = repr(x)
    elif form == "grouped":
        text = f"{draw(st.integers(1000, 10**12)):,}" + draw(st.sampled_from(["", ".5", ".25"]))
    else:
        text = f"{draw(st.integers(-999, 999))}e{draw(st.integers(-6, 6))}"
    padded = draw(st.sampled_from(["{}", " {} ", "\u00a0{}"])).format(text)
    return padded, Decimal(text.replace(",", ""))


def free_text(draw: st.DrawFn, max_size: int) -> str:
    text = "".join(draw(st.lists(NOTE_CHARS, max_size=max_size)))
    if draw(st.integers(0, 19)) == 19:  # now and then a huge field: a very long line
        text += draw(st.sampled_from(["x", "\u00e9", "\U0001f680", "a\u0301"])) * 100_000
    return text


def spaced(draw: st.DrawFn, text: str) -> str:
    """The same id with white space around it (trimmed by tracker)."""
    if not text:
        return text
    return draw(st.sampled_from(["{}", " {}", "{} ", "\t{}\u00a0"])).format(text)


def storable(value: Decimal) -> bool:
    """Whether `value` (in the indicator's unit) has at most STORED_DECIMALS decimals."""
    return EXACT.multiply(value, Decimal(10) ** STORED_DECIMALS) % 1 == 0


@st.composite
def valid_row(draw: st.DrawFn, year: int) -> tuple[list[str], tuple[object, ...] | None]:
    """Cells as written and the observation they must load as: (indicator, initiative,
    geography, period, value, value_as_given, unit_as_given, currency, source, note); a
    citation source is given by its text (tracker registers it under an id of its own).
    None instead of the observation when the value needs more decimals than are stored
    (1.2345678901234567e-05, or 123456.78901234567 MW in GW): such a row is refused."""
    indicator = draw(st.sampled_from(INDICATORS))
    ind_text = draw(st.sampled_from([indicator.id, indicator.id.upper()]))
    initiatives = [*INITIATIVES]
    if indicator.default_initiative:
        initiatives.append(("", indicator.default_initiative))
    ini_text, initiative = draw(st.sampled_from(initiatives))
    geo_text, geography = draw(st.sampled_from(GEOGRAPHIES))
    half, quarter = draw(st.integers(1, 2)), draw(st.integers(1, 4))
    per_text, period = draw(st.sampled_from([
        (str(year), str(year)), (f"{year}-H{half}", f"{year}-H{half}"),
        (f"{year}-h{half}", f"{year}-H{half}"), (f"{year}-q{quarter}", f"{year}-Q{quarter}"),
        (f"{year}-07", f"{year}-07"), (f"{year}-02-28", f"{year}-02-28"),
    ]))  # fmt: skip
    value_text, number = draw(numbers())
    unit_text, factor = draw(st.sampled_from(indicator.units))
    if draw(st.booleans()):
        src_text, source = draw(st.sampled_from(SOURCES))
    else:  # free text: a citation, registered as a new source
        src_text = "Cited: " + free_text(draw, 12).replace("\n", " ")
        source = src_text.strip()
    note_text = free_text(draw, 30)
    texts = [
        spaced(draw, ind_text), spaced(draw, ini_text), spaced(draw, geo_text),
        spaced(draw, per_text), value_text, spaced(draw, unit_text), src_text, note_text,
    ]  # fmt: skip
    literal_quote = '"' in note_text and not needs_quotes(note_text.replace('"', ""))
    literal_quote = literal_quote and not note_text.lstrip().startswith('"')
    cells = []
    for index, text in enumerate(texts):
        raw_ok = not needs_quotes(text) or (index == NOTE and literal_quote and draw(st.booleans()))
        cells.append(cell(text, quoted=not raw_ok or draw(st.integers(0, 4)) == 0))
    value = EXACT.multiply(number, factor)
    if not storable(value):
        return cells, None
    expected = (
        indicator.id, initiative, geography, period, value, value_text.strip(),
        unit_text or indicator.label, indicator.currency, source,
        None if note_text.strip() in ("", "-") else note_text.strip(),  # '-' clears a note
    )  # fmt: skip
    return cells, expected


def insert(draw: st.DrawFn, text: str, extra: str) -> str:
    at = draw(st.integers(0, len(text)))
    return text[:at] + extra + text[at:]


def _reads_whole(cells: list[str]) -> bool:
    """Whether the row's text reads as one complete, well-formed CSV record."""
    try:
        records = list(csv.reader(io.StringIO(",".join(cells)), strict=True))
    except csv.Error:
        return False
    return len(records) == 1


@st.composite
def broken_row(draw: st.DrawFn, year: int) -> list[str]:
    """The cells of a row that must be refused, made from a valid row with one fault."""
    cells, _ = draw(valid_row(year))
    kind = draw(st.sampled_from(BROKEN_KINDS))
    note(f"broken row ({kind})")
    column = draw(st.integers(0, 7))
    if kind == "bad number":
        cells[4] = cell(draw(st.sampled_from(BAD_NUMBERS)), quoted=draw(st.booleans()))
    elif kind == "overflow":  # finite as written, infinite in the indicator's unit
        cells[0], cells[1], cells[4], cells[5] = draw(st.sampled_from([
            ("new_deals", "BRI", "1e308", "thousand"),
            ("financing", "GG", "1.5e307", "USD tn"),
            ("power_capacity", "", '"170,000,000,000,000,000,000,000,000,000e300"', "GW"),
        ]))  # fmt: skip
    elif kind == "odd id":
        column = draw(st.sampled_from([0, 1, 2, 3, 5]))  # an empty cell becomes the odd text
        odd = draw(st.sampled_from(ODD))
        cells[column] = cell(insert(draw, cells[column].strip('"'), odd), needs_quotes(odd))
    elif kind == "invisible in a source id":
        source = draw(st.sampled_from(["gfdc-bri-2023", "griffith-bri-2024", "ecb-exr-annual"]))
        cells[6] = insert(draw, source, draw(st.sampled_from(INVISIBLE)))
    elif kind == "non-ASCII digits":
        digits = draw(st.sampled_from(["\uff10", "\u0660", "\u0966"]))  # fullwidth, Arabic, ...
        cells[3] = "".join(chr(ord(digits) + int(c)) for c in str(year))
    elif kind == "NUL":
        cells[column] = insert(draw, cells[column], "\x00")
    elif kind == "surrogate":
        cells[column] = insert(draw, cells[column], chr(draw(st.integers(0xD800, 0xDFFF))))
    elif kind == "unclosed quote":
        cells[column] = '"' + cells[column].replace('"', "")
        if _reads_whole(cells):  # the new quote paired with a later cell's: still a valid row
            cells[column] = cell(cells[column].strip('"'), quoted=True) + "x"
    elif kind == "text after a closing quote":
        cells[column] = cell(cells[column].strip('"'), quoted=True) + "x"
    elif kind == "extra fields":
        cells += ["extra"] * draw(st.sampled_from([1, 2, 20_000]))
    elif kind == "missing fields":
        cells = cells[: draw(st.integers(1, 7))]
    elif kind == "huge id":
        column = draw(st.sampled_from([0, 2, 3, 5, 6]))
        cells[column] = draw(st.sampled_from(["Q", "1", "-", "\u00e9"])) * 150_000
        if column == 6:  # a huge citation is free text, valid: make it a huge source id
            cells[column] = "gfdc-" + "x" * 150_000
    else:  # blank required
        cells[draw(st.sampled_from([0, 3]))] = draw(st.sampled_from(["", " ", '""']))
    return cells


@st.composite
def hostile_files(draw: st.DrawFn) -> HostileFile:
    valid_count = draw(st.integers(0, 6))
    broken_count = draw(st.sampled_from([0, 0, 1, 1, 2, 3]))
    if valid_count + broken_count == 0:
        valid_count = 1
    # Valid rows on distinct years of 1900-1999 (no two on one point, none on a shipped
    # point); broken rows in 1800-1899, so a broken row can never repeat a valid one.
    years = draw(st.lists(st.integers(1900, 1999), min_size=valid_count,
                          max_size=valid_count, unique=True))  # fmt: skip
    kinds = draw(st.permutations(["valid"] * valid_count + ["broken"] * broken_count))
    line_end = draw(st.sampled_from(["\n", "\r\n"]))
    rows: list[Row] = []
    for kind in kinds:
        if draw(st.integers(0, 5)) == 5:  # skipped: a blank line or a row of empty fields
            rows.append(Row("skipped", draw(st.sampled_from(["", ",,,,,,,"])) + line_end))
        if kind == "valid":
            cells, expected = draw(valid_row(years.pop()))
            if expected is None:
                note("broken row (more decimals than are stored)")
            rows.append(Row("valid" if expected else "broken", ",".join(cells) + line_end,
                            expected))  # fmt: skip
        else:
            cells = draw(broken_row(draw(st.integers(1800, 1899))))
            rows.append(Row(kind, ",".join(cells) + line_end))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    text = bom + HEADER + line_end
    line = 2
    broken_lines: set[int] = set()
    valid_lines: set[int] = set()
    for row in rows:
        span = set(range(line, line + row.text.count("\n")))
        if row.kind == "broken":
            broken_lines |= span
        elif row.kind == "valid":
            valid_lines |= span
        text += row.text
        line += row.text.count("\n")
    expected = [row.expected for row in rows if row.expected is not None]
    return HostileFile(text, expected, broken_lines, valid_lines)


# --- what the property found in tracker, one example each ---------------------------------


def _refused(db: Path, path: Path, text: str) -> str:
    """Ingest `text` (lone surrogates as their bytes); it must be refused, nothing loaded."""
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    before = db_rows(db, COUNTS)
    result = invoke("ingest", path, db=db)
    assert result.exit_code == 2, result.output
    assert db_rows(db, COUNTS) == before
    return result.output


def test_a_nul_byte_past_the_first_8_kb_is_refused_on_its_line(
    tracker_db: Path, tmp_path: Path
) -> None:
    # it was loaded into the note (only the first 8 KB were checked for NUL bytes)
    rows = [f"new_deals,BRI,WLD,{1800 + i},1,,gfdc-bri-2023,{'padding ' * 8}" for i in range(200)]
    path = tmp_path / "nul.csv"
    output = _refused(
        tracker_db,
        path,
        "\n".join([HEADER, *rows, 'new_deals,BRI,WLD,1999,1,,gfdc-bri-2023,"a\x00b"']),
    )
    assert (
        f"{path}:202: the line contains a NUL byte (column 43); text never does: remove it, "
        "or check that this is the CSV file you meant"
    ) in output


def test_a_number_that_overflows_in_the_indicators_unit_is_refused(
    tracker_db: Path, tmp_path: Path
) -> None:
    # 1e308 thousand deals was stored as inf
    path = tmp_path / "big.csv"
    output = _refused(tracker_db, path, f"{HEADER}\nnew_deals,BRI,WLD,1990,1e308,thousand,x y,\n")
    assert (
        f"{path}:2: column 'value': found '1e308', too large once converted to the indicator's "
        "unit 'count'"
    ) in output


def test_a_source_id_with_an_invisible_character_is_refused_and_shown_escaped(
    tracker_db: Path, tmp_path: Path
) -> None:
    # it was registered as a new free-text source that looks exactly like gfdc-bri-2023
    path = tmp_path / "zw.csv"
    output = _refused(
        tracker_db, path, f"{HEADER}\nnew_deals,BRI,WLD,1990,1,,gfdc-bri-2023\u200b,\n"
    )
    assert (
        f"{path}:2: column 'source': found 'gfdc-bri-2023\\u200b', unknown source; did you mean "
        "'gfdc-bri-2023'?"
    ) in output


def test_a_period_in_non_ascii_digits_is_refused(tracker_db: Path, tmp_path: Path) -> None:
    # '\uff11\uff19\uff19\uff10' (fullwidth) was read as 1990, while such a value is refused
    path = tmp_path / "digits.csv"
    output = _refused(
        tracker_db, path, f"{HEADER}\nnew_deals,BRI,WLD,\uff11\uff19\uff19\uff10,1,,x y,\n"
    )
    assert (
        f"{path}:2: column 'period': found '\uff11\uff19\uff19\uff10', expected a period like "
        "2024, 2024-H1 (H1 2024), 2024-Q3 (Q3 2024), 2024-07 (Jul 2024) or 2024-07-15 "
        "(15 Jul 2024)"
    ) in output


def test_text_after_a_closing_quote_in_an_id_column_is_refused(
    tracker_db: Path, tmp_path: Path
) -> None:
    # polars read '"new_deals"x' in a categorical column as 'new_deals', dropping the 'x'
    path = tmp_path / "quote.csv"
    output = _refused(tracker_db, path, f'{HEADER}\n"new_deals"x,BRI,WLD,1990,1,,x y,\n')
    assert (
        f"{path}:2: malformed CSV (',' expected after '\"'); a quoted field must end with a "
        'quote followed by the delimiter or the line end, with quotes inside it doubled ("")'
    ) in output


def test_a_quote_taken_as_it_is_does_not_shift_the_blame_to_a_valid_row(
    tracker_db: Path, tmp_path: Path
) -> None:
    # counting quotes per line, a literal quote (line 3) made lines 3-4 one record: line 3
    # was said to have 15 fields, and the malformed row 5 was blamed on valid line 7
    path = tmp_path / "blame.csv"
    rows = [
        'new_deals,BRI,WLD,1990,1,,x y,"a"', 'new_deals,BRI,WLD,1800,1e308,thousand,x y,12" pipe',
        'new_deals,BRI,WLD,1991,1,,x y,"b"', '"new_deals,"BRI",WLD,1800,1,,x y,',
        'new_deals,BRI,WLD,1992,1,,x y,"c"', 'new_deals,BRI,WLD,1993,1,,x y,"d"',
    ]  # fmt: skip
    output = _refused(tracker_db, path, "\n".join([HEADER, *rows]) + "\n")
    assert set(re.findall(re.escape(str(path)) + r":(\d+):", output)) == {"5"}
    assert f"{path}:5: malformed CSV (',' expected after '\"')" in output


def test_text_after_a_closing_quote_prints_no_traceback(tracker_db: Path, tmp_path: Path) -> None:
    # polars cut '"Cited: \u00e9"\u00e9' inside the first '\u00e9': Python printed a
    # traceback (an exception it could not raise) and Rust a panic, then the file was refused
    path = tmp_path / "cut.csv"
    path.write_text(
        f'{HEADER}\nnew_deals,BRI,WLD,1990,1,,"Cited: \u00e9"\u00e9,\n', encoding="utf-8"
    )
    done = subprocess.run([sys.executable, "-m", "tracker", "--db", str(tracker_db), "ingest",
                           str(path)], capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "panicked" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"{path}:2: malformed CSV (',' expected after '\"')")


def test_a_field_over_131072_characters_loads_when_the_csv_module_reads_the_file(
    tracker_db: Path, tmp_path: Path
) -> None:
    # a stray quote sends the file to the csv module, which refused fields over 131072
    # characters, naming a valid row; polars reads such fields
    path = tmp_path / "long.csv"
    rows = [
        'new_deals,BRI,WLD,1990,1,,x y,12" pipe',
        f'new_deals,BRI,WLD,1991,1,,x y,"{"z" * 200_000}"',
    ]
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    result = invoke("ingest", path, db=tracker_db)
    assert result.exit_code == 0, result.output
    notes = db_rows(tracker_db, "SELECT note FROM observations WHERE period IN ('1990', '1991') "
                    "ORDER BY period")  # fmt: skip
    assert notes == [('12" pipe',), ("z" * 200_000,)]


# --- the property --------------------------------------------------------------------------

OBSERVATIONS = """
    SELECT o.indicator, o.initiative, o.geography, o.period, o.value, o.value_as_given,
           o.unit_as_given, o.currency,
           CASE WHEN o.source LIKE 'src-%' THEN s.title ELSE o.source END, o.note
    FROM observations o JOIN sources s ON s.id = o.source
    WHERE o.batch = (SELECT max(id) FROM batches)
"""
COUNTS = """
    SELECT (SELECT count(*) FROM observations), (SELECT count(*) FROM batches),
           (SELECT count(*) FROM sources)
"""


def _same(got: tuple[object, ...], want: tuple[object, ...]) -> bool:
    value_got, value_want = got[4], want[4]
    assert isinstance(value_got, Decimal) and isinstance(value_want, Decimal)
    exact = value_got == value_want  # stored exactly, as entered and scaled
    # Two spellings of one citation (case, spaces, quotes) are one source, titled as first
    # written: compared as tracker compares citations.
    same_source = citation_key(str(got[8])) == citation_key(str(want[8]))
    return exact and same_source and got[:4] + got[5:8] + got[9:] == want[:4] + want[5:8] + want[9:]


def _key(row: tuple[object, ...]) -> tuple[str, ...]:
    return tuple(str(v) for v in row[:4])


def ingest_hostile_file(template: Path, folder: Path, case: HostileFile) -> None:
    shown = re.sub(r"(.)\1{20,}", lambda run: f"{run[1]}<x{len(run[0])}>", case.text)
    note(f"file ({len(case.text)} characters, long runs shown as c<xN>): {shown[:3000]!r}")
    note(f"broken lines {sorted(case.broken_lines)}, valid lines {sorted(case.valid_lines)}")
    db = folder / "tracker.duckdb"
    shutil.copyfile(template, db)
    path = folder / "hostile.csv"
    path.write_bytes(case.text.encode("utf-8", "surrogatepass"))
    before = db_rows(db, COUNTS)[0]
    result = invoke("ingest", path, db=db)
    output = result.output
    note(f"exit {result.exit_code}: {output[:3000]}")
    assert result.exit_code in (0, 2)
    assert "Traceback" not in output and "Internal error" not in output
    assert "please report this" not in output
    if case.broken:
        assert result.exit_code == 2
        assert db_rows(db, COUNTS)[0] == before  # nothing loaded, no source registered
        named = {int(n) for n in re.findall(re.escape(str(path)) + r":(\d+):", output)}
        assert named & case.broken_lines, "no broken row's line is named"
        assert not named & case.valid_lines, "a valid row is blamed"
        return
    assert result.exit_code == 0
    observations, batches, _ = db_rows(db, COUNTS)[0]
    assert (observations, batches) == (int(str(before[0])) + len(case.expected),
                                       int(str(before[1])) + 1)  # fmt: skip
    loaded = {_key(row): row for row in db_rows(db, OBSERVATIONS)}
    wanted = {_key(row): row for row in case.expected}
    assert loaded.keys() == wanted.keys()
    for key, row in wanted.items():
        assert _same(loaded[key], row), (loaded[key], row)


def _settings(examples: int) -> settings:
    """Hypothesis settings: no deadline (a huge field takes a while), fixtures shared by the
    examples on purpose (each example copies the template database into a folder of its own).
    """
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
        ],
    )  # fmt: skip


def _run(template: Path, tmp_path: Path, case: HostileFile) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    try:
        ingest_hostile_file(template, folder, case)
    finally:
        shutil.rmtree(folder)


@_settings(50)
@given(case=hostile_files())
def test_a_hostile_file_loads_exactly_its_rows_or_nothing_50_examples(
    shipped_db_template: Path, tmp_path: Path, case: HostileFile
) -> None:
    _run(shipped_db_template, tmp_path, case)


@pytest.mark.slow
@_settings(400)
@given(case=hostile_files())
def test_a_hostile_file_loads_exactly_its_rows_or_nothing_400_examples(
    shipped_db_template: Path, tmp_path: Path, case: HostileFile
) -> None:
    _run(shipped_db_template, tmp_path, case)
