"""Key messages, sentence by sentence: small real stores built by `tracker ingest`, a real
render, the exact sentence read back from the HTML and the PDF; the order follows the
score; the shipped data's messages are right against data/observations."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conftest import PROJECT, SHIPPED_OBSERVATIONS, copy_database, invoke, runs_rows
from tracker.definitions import load_briefing
from tracker.errors import DefinitionError

NAME = "km"
DEFINITION = """title = "Key messages test"
audience = "Tests"
initiatives = ["BRI", "GG"]
geographies = ["WLD"]
formats = ["pdf", "html"]

[[sections]]
kind = "key_messages"
{options}

[[sections]]
kind = "key_figures"
indicators = ["new_deal_value", "new_deals", "financing"]
"""
HEADER = "indicator,initiative,geography,period,value,unit,source\n"
VALUE = "Value of new deals, BRI, World,"
DEALS = "New deals signed, BRI, World"
GG_300 = "The target “Global Gateway: mobilise up to EUR 300 bn by 2027”"
GG_400 = "The target “Global Gateway: mobilise more than EUR 400 bn by 2027”"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder: the shipped indicators, reference data and templates, and a
    reports/ folder holding the test briefing."""
    folder = tmp_path / "home"
    (folder / "reports").mkdir(parents=True)
    for name in ("indicators", "templates", "data"):
        (folder / name).symlink_to(PROJECT / name)
    monkeypatch.setenv("TRACKER_HOME", str(folder))
    write_definition(folder)
    return folder


def write_definition(home: Path, options: str = "") -> None:
    (home / "reports" / f"{NAME}.toml").write_text(DEFINITION.format(options=options), "utf-8")


@pytest.fixture
def db(home: Path, tmp_path: Path) -> Path:
    path = tmp_path / "t.duckdb"
    result = invoke("init", db=path)
    assert result.exit_code == 0, result.output
    return path


def ingest(db: Path, folder: Path, rows: str) -> None:
    path = folder / f"rows-{len(list(folder.glob('rows-*.csv')))}.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    result = invoke("ingest", path, db=db)
    assert result.exit_code == 0, result.output


def render(db: Path, out: Path, *args: str) -> tuple[list[str], str, str]:
    """Render the test briefing; (key messages from the run record, HTML text, PDF text)."""
    result = invoke("brief", NAME, "--publish", "--out", out, *args, db=db)
    assert result.exit_code == 0, result.output
    folder = max((out / NAME).iterdir(), key=lambda f: int(f.name.split("-")[0]))
    html = _html_text(folder / f"{NAME}.html")
    pdf = " ".join(" ".join(p.extract_text().replace("\xa0", " ").split())
                   for p in PdfReader(folder / f"{NAME}.pdf").pages)  # fmt: skip
    stored = runs_rows(db, "SELECT key_messages FROM report_runs ORDER BY id DESC LIMIT 1")
    messages = [m["text"] for m in json.loads(str(stored[0][0]))]
    return messages, html, pdf


def _html_text(path: Path) -> str:
    body = path.read_text(encoding="utf-8")
    body = re.sub(r"<style.*?</style>|<svg.*?</svg>", " ", body, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def assert_shown(messages: list[str], html: str, pdf: str, expected: list[str]) -> None:
    """The run record holds exactly `expected`, in order; the HTML and the PDF show each
    sentence word for word, followed by its footnote markers."""
    assert messages == expected
    for sentence in expected:
        assert sentence in html, sentence
        assert sentence in pdf, sentence


def test_a_change_against_the_previous_period_is_one_sentence_with_both_sources(
    db: Path, tmp_path: Path
) -> None:
    ingest(db, tmp_path, "new_deal_value,BRI,WLD,2023,100,USD bn,gfdc-bri-2023\n"
                         "new_deal_value,BRI,WLD,2024,90,USD bn,griffith-bri-2024\n")  # fmt: skip
    messages, html, pdf = render(db, tmp_path / "out")
    sentence = f"{VALUE} fell 10.0 % to USD 90 bn in 2024, from USD 100 bn in 2023."
    assert_shown(messages, html, pdf, [sentence])
    assert f"{sentence} [1] [2]" in html  # the newer figure's source first
    assert "Only 1 key message(s): the data hold no other change" in pdf


def test_no_change_is_written_between_figures_that_count_different_contributors(
    db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "contributors.csv"
    path.write_text(
        HEADER.rstrip("\n") + ",contributor\n"
        "new_deal_value,BRI,WLD,2023,100,USD bn,gfdc-bri-2023,\n"
        "new_deal_value,BRI,WLD,2024,60,USD bn,griffith-bri-2024,CHN\n",
        encoding="utf-8",
    )
    assert invoke("ingest", path, db=db).exit_code == 0
    messages, _, _ = render(db, tmp_path / "out")
    # the 2024 figure counts one contributor, the 2023 one the whole programme: no 'fell 40 %'
    assert not [m for m in messages if "from USD 100 bn in 2023" in m], messages


def test_a_new_high_of_a_flow_is_a_record(db: Path, tmp_path: Path) -> None:
    ingest(db, tmp_path, "new_deal_value,BRI,WLD,2022,50,USD bn,gfdc-bri-2023\n"
                         "new_deal_value,BRI,WLD,2023,80,USD bn,gfdc-bri-2023\n"
                         "new_deal_value,BRI,WLD,2024,100,USD bn,gfdc-bri-2023\n")  # fmt: skip
    messages, html, pdf = render(db, tmp_path / "out")
    assert_shown(messages, html, pdf, [
        f"{VALUE} reached USD 100 bn in 2024, the highest since the series began in 2022: up "
        "25.0 % from USD 80 bn in 2023."
    ])  # fmt: skip


def test_a_change_from_a_qualified_figure_says_so_and_one_a_qualifier_could_reverse_is_not_written(
    db: Path, tmp_path: Path
) -> None:
    ingest(db, tmp_path, "new_deal_value,BRI,WLD,2023,80,USD bn,gfdc-bri-2023\n"
                         "new_deal_value,BRI,WLD,2024,>100,USD bn,gfdc-bri-2023\n"
                         "new_deals,BRI,WLD,2023,more than 280,,gfdc-bri-2023\n"
                         "new_deals,BRI,WLD,2024,290,,gfdc-bri-2023\n")  # fmt: skip
    messages, html, pdf = render(db, tmp_path / "out")
    # > 100 against 80 is a rise of more than 25 %; 290 against more than 280 might be a rise
    # or a fall: no sentence
    assert_shown(messages, html, pdf, [
        f"{VALUE} rose more than 25.0 % to > USD 100 bn in 2024, from USD 80 bn in 2023."
    ])  # fmt: skip
    assert "New deals signed" not in " ".join(messages)


def test_a_target_reached_names_the_target_figure_share_and_sources(
    db: Path, tmp_path: Path
) -> None:
    ingest(db, tmp_path, "financing,GG,WLD,2025,310,EUR bn,ec-team-europe-2024\n")
    messages, html, pdf = render(db, tmp_path / "out")
    sentence = f"{GG_300} is reached: EUR 310 bn in 2025, 103.3 % of EUR 300 bn."
    assert_shown(messages, html, pdf, [sentence])
    assert f"{sentence} [1] [2]" in html  # the target's source, then the figure's


def test_sources_that_disagree_by_more_than_5_percent_are_one_sentence(
    db: Path, tmp_path: Path
) -> None:
    ingest(db, tmp_path, "new_deals,BRI,WLD,2024,300,,gfdc-bri-2023\n"
                         "new_deals,BRI,WLD,2024,340,,seed-000-bri-2-0\n"
                         "new_deal_value,BRI,WLD,2024,121.8,USD bn,gfdc-bri-2023\n"
                         "new_deal_value,BRI,WLD,2024,124,USD bn,seed-000-bri-2-0\n")  # fmt: skip
    messages, html, pdf = render(db, tmp_path / "out")
    # 124 against 121.8 is 1.8 % apart: no sentence
    assert_shown(messages, html, pdf, [
        f"Sources disagree on {DEALS} for 2024: 300 deals (primary, the headline) against "
        "340 deals (secondary), 13.3 % apart."
    ])  # fmt: skip


def test_against_the_previous_issue_revisions_new_periods_targets_crossed_and_moved_projections(
    db: Path, tmp_path: Path
) -> None:
    ingest(db, tmp_path, "new_deal_value,BRI,WLD,2024,90,USD bn,gfdc-bri-2023\n"
                         "new_deals,BRI,WLD,2023,200,,gfdc-bri-2023\n"
                         "financing,GG,WLD,2023,179,EUR bn,ec-team-europe-2024\n"
                         "financing,GG,WLD,2024,250,EUR bn,ec-team-europe-2024\n")  # fmt: skip
    first, _, _ = render(db, tmp_path / "out")
    assert not any("issue" in m for m in first)
    ingest(db, tmp_path, "new_deal_value,BRI,WLD,2025,99,USD bn,gfdc-bri-2023\n"
                         "new_deals,BRI,WLD,2023,220,,gfdc-bri-2023\n"
                         "financing,GG,WLD,2025,310,EUR bn,ec-team-europe-2024\n")  # fmt: skip
    messages, html, pdf = render(db, tmp_path / "out")
    # GG: 2023 179 -> 2024 250 reaches EUR 400 bn 773 days after 2024 (Feb 2027);
    # 2024 250 -> 2025 310, 548 days after 2025 (Jul 2027)
    assert_shown(messages, html, pdf, [
        f"{GG_300} is reached since issue 1: EUR 310 bn in 2025, 103.3 % of EUR 300 bn.",
        "The projected date for the target “Global Gateway: mobilise more than EUR 400 bn by "
        "2027” moved 5 month(s) later since issue 1, from Feb 2027 to Jul 2027 (a straight "
        "line through the last two points).",
        "Infrastructure financing committed or mobilised, GG, World, now EUR 310 bn for "
        "2025; issue 1 showed EUR 250 bn for 2024, up 24.0 %.",
        f"{DEALS}, 2023: revised up 10.0 % since issue 1, from 200 deals to 220 deals.",
        f"{VALUE} now USD 99 bn for 2025; issue 1 showed USD 90 bn for 2024, up 10.0 %.",
    ])  # fmt: skip
    # against the previous issue (40 + size) outranks the same series' change against the
    # previous period (30 + size): one message per series


def test_messages_follow_the_score_and_max_messages_cuts_the_list(
    home: Path, db: Path, tmp_path: Path
) -> None:
    ingest(db, tmp_path, "new_deal_value,BRI,WLD,2023,100,USD bn,gfdc-bri-2023\n"
                         "new_deal_value,BRI,WLD,2024,90,USD bn,gfdc-bri-2023\n"
                         "new_deals,BRI,WLD,2023,100,,gfdc-bri-2023\n"
                         "new_deals,BRI,WLD,2024,150,,gfdc-bri-2023\n"
                         "financing,GG,WLD,2025,310,EUR bn,ec-team-europe-2024\n")  # fmt: skip
    # each render on its own copy: a second render would be issue 2, comparing with issue 1
    copies = [copy_database(db, tmp_path / f"copy-{n}.duckdb") for n in range(2)]
    messages, _, _ = render(db, tmp_path / "out")
    stored = runs_rows(db, "SELECT key_messages FROM report_runs ORDER BY id DESC LIMIT 1")
    ranked = [(m["kind"], m["score"]) for m in json.loads(str(stored[0][0]))]
    # target reached 100; +50 % deals: 30 + 25; -10 % value: 30 + 5
    assert ranked == [("target_reached", 100.0), ("change", 55.0), ("change", 35.0)]
    assert messages[1].startswith(DEALS)
    write_definition(home, "max_messages = 2")
    again, _, pdf = render(copies[0], tmp_path / "out2")
    assert again == messages[:2]
    assert "key message(s)" not in pdf  # two asked for, two given: nothing to explain
    write_definition(home, 'messages = ["change"]')
    only, _, _ = render(copies[1], tmp_path / "out3")
    assert only == messages[1:]


def test_the_same_data_and_as_of_date_give_the_same_messages(db: Path, tmp_path: Path) -> None:
    ingest(db, tmp_path, "new_deal_value,BRI,WLD,2023,100,USD bn,gfdc-bri-2023\n"
                         "new_deal_value,BRI,WLD,2024,90,USD bn,gfdc-bri-2023\n"
                         "new_deals,BRI,WLD,2023,100,,gfdc-bri-2023\n"
                         "new_deals,BRI,WLD,2024,110,,gfdc-bri-2023\n")  # fmt: skip
    # equal scores (both 35.0): the section's order of indicators decides
    day = datetime.now(UTC).date().isoformat()
    one, _, _ = render(db, tmp_path / "a", "--as-of", day)
    two, _, _ = render(db, tmp_path / "b", "--as-of", day)
    assert one == two and len(one) == 2
    assert one[0].startswith(VALUE)


def test_no_candidates_says_so_instead_of_padding(db: Path, tmp_path: Path) -> None:
    messages, html, pdf = render(db, tmp_path / "out")
    assert messages == []
    note = ("No key message: the data hold no other change, record, target reached, moved "
            "projection, revision or disagreement between sources (first issue: nothing to "
            "compare with).")  # fmt: skip
    assert note in html and note in pdf


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("max_messages = 7", "key 'sections.0.max_messages': 7 is greater than the maximum of 6"),
        ('messages = ["recrod"]', "key 'sections.0.messages.0': found 'recrod', expected one "
         "of target_reached, projection_moved, revision, since_previous_issue, record, change, "
         "sources_differ. Did you mean 'record'?"),
    ],
)  # fmt: skip
def test_a_bad_key_messages_option_is_refused_naming_the_key(
    home: Path, options: str, message: str
) -> None:
    write_definition(home, options)
    with pytest.raises(DefinitionError, match=re.escape(message)):
        load_briefing(home / "reports" / f"{NAME}.toml", home / "templates")


def test_max_messages_on_another_kind_is_refused(home: Path) -> None:
    path = home / "reports" / f"{NAME}.toml"
    path.write_text(DEFINITION.format(options="").replace(
        'kind = "key_figures"', 'kind = "key_figures"\nmax_messages = 3'), "utf-8")  # fmt: skip
    with pytest.raises(DefinitionError, match=re.escape(
        "key 'sections.1.max_messages': only a key_messages section takes this key."
    )):  # fmt: skip
        load_briefing(path, home / "templates")


# --- the shipped briefings ----------------------------------------------------------------


def _shipped_values() -> dict[str, set[float]]:
    values: dict[str, set[float]] = {}
    for path in SHIPPED_OBSERVATIONS:
        with open(path, encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                values.setdefault(row["indicator"], set()).add(float(row["value"]))
    return values


def test_the_shipped_briefing_opens_with_its_key_messages_and_each_figure_is_in_the_data(
    shipped_db_template: Path, tmp_path: Path
) -> None:
    db = copy_database(shipped_db_template, tmp_path / "tracker.duckdb")
    result = invoke("brief", "programmes-compared", "--out", tmp_path / "out", db=db)
    assert result.exit_code == 0, result.output
    folder = next((tmp_path / "out" / "programmes-compared").iterdir())
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    messages = [m["text"] for m in manifest["key_messages"]]
    assert [m["kind"] for m in manifest["key_messages"]] == [
        "target_reached", "change", "change", "record"
    ]  # fmt: skip
    assert messages[0].startswith(GG_300 + " is reached: > EUR 306 bn on 9 October 2025")
    assert any("BRI construction contracts (value), BRI, World, rose 81.6 %" in m
               for m in messages)  # fmt: skip
    # every figure a sentence prints is a shipped value of that indicator
    values = _shipped_values()
    names = {"BRI construction contracts (value)": "bri_construction_value",
             "BRI non-financial investment (value)": "bri_investment_value",
             "Value of new deals": "new_deal_value",
             "Infrastructure financing committed or mobilised": "financing",
             "The target": "financing"}  # fmt: skip
    for message in messages:
        indicator = next(v for k, v in names.items() if message.startswith(k))
        for figure in re.findall(r"(?:USD|EUR) ([\d,.]+) bn", message):
            number = float(figure.replace(",", ""))
            assert number in values[indicator] or number in (300.0, 400.0), (message, figure)
    # first page of the PDF: the cover, then the key messages
    first = PdfReader(folder / "programmes-compared.pdf").pages[0].extract_text()
    first = " ".join(first.replace("\xa0", " ").split())
    assert "Key messages" in first and messages[0] in first
    assert "Key figures" not in first.split("Key messages", 2)[-1]  # no table on page one


def test_a_country_profile_gets_messages_about_its_own_geography(
    shipped_db_template: Path, tmp_path: Path
) -> None:
    db = copy_database(shipped_db_template, tmp_path / "tracker.duckdb")
    source = "seed-003-cgtn-central-asia"
    ingest(db, tmp_path, f"trade_central_asia,BRI,KAZ,2023,40,USD bn,{source}\n"
                         f"trade_central_asia,BRI,KAZ,2024,43.8,USD bn,{source}\n")  # fmt: skip
    result = invoke("brief", "country-profile", "--param", "geography=KAZ", "--out",
                    tmp_path / "out", db=db)  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = next((tmp_path / "out").rglob("manifest.json"))
    messages = [m["text"] for m in json.loads(manifest.read_text("utf-8"))["key_messages"]]
    assert messages == [
        "China–Central Asia trade, BRI, Kazakhstan, rose 9.5 % to USD 43.8 bn (secondary "
        "source) in 2024, from USD 40 bn (secondary source) in 2023."
    ]
