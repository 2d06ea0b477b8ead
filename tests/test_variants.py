"""Briefing variants through the real CLI: `--param`, `--each`, the country profile on the
shipped data, one run (and issue number) per variant, and refused parameters (exit 2,
file and key named, nothing written)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
from pypdf import PdfReader

from tests.conftest import PROJECT, invoke
from tracker import briefing, definitions, store
from tracker.errors import DefinitionError

REPORT = "country-profile"
CENTRAL_ASIA = ["KAZ", "KGZ", "TJK", "TKM", "UZB"]


def _runs(db: Path) -> list[tuple[object, ...]]:
    """(params, issue, status) of every run, read with plain duckdb from the run history."""
    path = store.run_history_path(db)
    if not path.exists():
        return []
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute("SELECT params, issue, status FROM report_runs ORDER BY id").fetchall()


def _text(path: Path) -> str:
    body = path.read_text(encoding="utf-8")
    body = re.sub(r"<style.*?</style>|<svg.*?</svg>", " ", body, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", body).replace("&#39;", "'").split())


def _variant_dir(root: Path, value: str) -> Path:
    """The folder of the newest render of variant `value` under `root` (an issue's folder
    is `<issue>-<date>`, so the newest issue sorts last)."""
    newest = max((root / REPORT).iterdir(), key=lambda p: int(p.name.split("-")[0]))
    return newest / f"geography-{value}"


def test_each_geography_renders_one_profile_per_central_asian_country(
    tracker_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = invoke("brief", REPORT, "--each", "geography", "--publish", "--out", out,
                    db=tracker_db)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "5 of 5 variant(s) rendered, 5 PDF(s)" in result.output
    for value in CENTRAL_ASIA:
        folder = _variant_dir(out, value)
        stem = f"{REPORT}--geography-{value}"
        assert {p.name for p in folder.iterdir()} == {
            f"{stem}.pdf", f"{stem}.html", f"{stem}.csv", "manifest.json",
        }  # fmt: skip
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["params"] == {"geography": value}
    assert sorted(_runs(tracker_db)) == [  # the workers record their runs in any order
        (f'{{"geography": "{value}"}}', 1, "succeeded") for value in CENTRAL_ASIA
    ]


def test_the_kazakhstan_profile_shows_its_region_and_folds_what_has_no_data_into_one_line(
    tracker_db: Path, tmp_path: Path
) -> None:
    result = invoke("brief", REPORT, "--param", "geography=KAZ", "--publish", "--out", tmp_path,
                    db=tracker_db)  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = _variant_dir(tmp_path, "KAZ")
    pdf = PdfReader(folder / f"{REPORT}--geography-KAZ.pdf")
    assert len(pdf.pages) <= 2, "a profile is a page or two"
    text = " ".join(" ".join(p.extract_text().split()) for p in pdf.pages)
    assert "Country profile: Kazakhstan" in text
    assert "(Central Asia, Asia)" in text  # {geography.regions} in the audience line
    assert "USD 94.8 bn" in text  # China-Central Asia trade, the region's figure
    assert "China, Central Asia see tech-aided growth" in text  # its source, numbered
    html = _text(folder / f"{REPORT}--geography-KAZ.html")
    assert "Issue 1" in html and "{geography" not in html
    # Kazakhstan has no figure of its own in the shipped data: one line says what is not
    # tracked, and no section, key figure or chart stands empty.
    assert (
        "Not yet tracked for Kazakhstan: Infrastructure financing committed or mobilised; "
        "Value of new deals; New deals signed;" in html
    )
    assert "Overseas power projects completed by Chinese firms;" in html
    assert "China's trade with BRI partner countries, cumulative." in html
    assert "no data yet" not in html.lower() and "no data yet" not in text.lower()
    assert "Kazakhstan across the programmes" not in html  # a section with nothing to show
    page = (folder / f"{REPORT}--geography-KAZ.html").read_text("utf-8")
    headings = re.findall(r'<span class="section-number">(\d+)</span> ([^<]+)</h2>', page)
    assert [(int(n), t) for n, t in headings] == [
        (1, "Trade"), (2, "Targets that cover Kazakhstan"), (3, "Over time"),
        (4, "What changed since the previous profile"), (5, "Sources"),
    ]  # fmt: skip


def test_a_country_without_any_data_folds_every_data_section_into_one_line(
    empty_db: Path, tmp_path: Path
) -> None:
    result = invoke("brief", REPORT, "--out", tmp_path, "--format", "html", db=empty_db)
    assert result.exit_code == 0, result.output  # the default, KAZ, with no data at all
    text = _text(_variant_dir(tmp_path, "KAZ") / f"{REPORT}--geography-KAZ.html")
    assert "Country profile: Kazakhstan" in text
    assert (
        "Not yet tracked for Kazakhstan: Infrastructure financing committed or mobilised;" in text
    )
    assert "China–Central Asia trade; China's trade with BRI partner countries, cumulative; " \
        "Targets that cover Kazakhstan." in text  # fmt: skip
    assert "no data yet" not in text.lower()
    assert "1 What changed since the previous profile" in text and "2 Sources" in text


def test_issues_and_previous_briefing_are_counted_per_variant(
    tracker_db: Path, tmp_path: Path
) -> None:
    for value in ("KAZ", "KAZ", "UZB"):
        result = invoke(
            "brief", REPORT, "--param", f"geography={value}", "--format", "html", "--publish",
            "--out", tmp_path / value, db=tracker_db,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    assert [(p, i) for p, i, _ in _runs(tracker_db)] == [
        ('{"geography": "KAZ"}', 1), ('{"geography": "KAZ"}', 2), ('{"geography": "UZB"}', 1),
    ]  # fmt: skip
    second = _text(_variant_dir(tmp_path / "KAZ", "KAZ") / f"{REPORT}--geography-KAZ.html")
    assert "Issue 2" in second and "unchanged since issue 1" in second
    first_uzb = _text(_variant_dir(tmp_path / "UZB", "UZB") / f"{REPORT}--geography-UZB.html")
    assert "Issue 1" in first_uzb and "first issue" in first_uzb


def test_brief_without_a_param_renders_the_default_variant(
    tracker_db: Path, tmp_path: Path
) -> None:
    result = invoke("brief", "--format", "html", "--publish", "--out", tmp_path, db=tracker_db)
    assert result.exit_code == 0, result.output
    assert (_variant_dir(tmp_path, "KAZ") / f"{REPORT}--geography-KAZ.html").is_file()
    assert ('{"geography": "KAZ"}', 1, "succeeded") in _runs(tracker_db)
    assert (None, 1, "succeeded") in _runs(tracker_db)  # programmes-compared: no params


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--param", "region=KAZ"], "key 'params': no parameter 'region' (it declares geography)"),
        (
            ["--param", "geography=FRA"],
            "key 'params.geography': found 'FRA', expected one of KAZ, KGZ, TJK, TKM, UZB",
        ),
        (["--param", "geography=../../etc"], "value '../../etc' refused: it holds a path"),
        (["--param", "geography=KA\0Z"], "value 'KA\\0Z' refused: it holds a path or a NUL"),
        (["--param", "geography=KAZ", "--param", "geography=UZB"], "given twice"),
        (["--param", "geography"], "expected NAME=VALUE"),
        (["--each", "region"], "no parameter 'region'"),
        (["--each", "geography", "--param", "geography=KAZ"], "give one of the two"),
    ],
)
def test_a_refused_parameter_exits_2_naming_file_and_key_and_writes_nothing(
    tracker_db: Path, tmp_path: Path, arguments: list[str], message: str
) -> None:
    result = invoke("brief", REPORT, *arguments, "--out", tmp_path / "out", db=tracker_db)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert message in text
    if "params" in message:
        assert str(PROJECT / "reports" / f"{REPORT}.toml") in text
    assert not (tmp_path / "out").exists()
    assert _runs(tracker_db) == []


def test_param_and_each_on_a_briefing_without_parameters_or_name_are_refused(
    tracker_db: Path, tmp_path: Path
) -> None:
    result = invoke("brief", "programmes-compared", "--each", "geography", db=tracker_db)
    assert result.exit_code == 2
    assert "no parameter 'geography' (it declares none)" in " ".join(result.output.split())
    result = invoke("brief", "--each", "geography", db=tracker_db)
    assert result.exit_code == 2 and "need a briefing name" in result.output
    assert _runs(tracker_db) == []


PROGRAMME_PROFILE = """
title = "Programme profile: {initiative}"
audience = "Everything {initiative} ({initiative.id}) published."
geographies = ["WLD"]
initiatives = ["{initiative}"]

[params.initiative]
default = "BRI"
values_query = "initiatives with data"

[[sections]]
kind = "key_figures"
title = "{initiative} figures"
indicators = ["financing", "new_deal_value"]
"""


def test_each_initiative_renders_one_profile_per_programme_with_data(
    tracker_db: Path, custom_home: Path, tmp_path: Path
) -> None:
    (custom_home / "reports" / "programme.toml").write_text(PROGRAMME_PROFILE, "utf-8")
    result = invoke(
        "brief", "programme", "--each", "initiative", "--format", "html", "--out", tmp_path,
        db=tracker_db,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (day,) = (tmp_path / "programme").iterdir()
    with duckdb.connect(str(tracker_db), read_only=True) as conn:
        with_data = conn.execute(
            "SELECT DISTINCT initiative FROM observations "
            "WHERE indicator IN ('financing', 'new_deal_value') ORDER BY 1"
        ).fetchall()
    assert {"BRI", "GG", "PGII"} <= {i for (i,) in with_data}
    assert sorted(p.name for p in day.iterdir()) == [f"initiative-{i}" for (i,) in with_data]
    text = _text(day / "initiative-GG" / "programme--initiative-GG.html")
    assert "Programme profile: Global Gateway" in text and "(GG) published" in text
    assert "EUR 306 bn" in text


@pytest.mark.parametrize(
    ("change", "key", "hint"),
    [
        (
            ('values_query = "initiatives with data"', 'values_query = "initiatives with dat"'),
            "params.initiative.values_query",
            "Did you mean 'initiatives with data'?",
        ),
        (
            (
                'values_query = "initiatives with data"',
                'values_query = "SELECT id FROM initiatives"',
            ),
            "params.initiative.values_query",
            "Free SQL is not run",
        ),
        (
            (
                'values_query = "initiatives with data"',
                'values_query = "initiatives"\nvalues = ["BRI"]',
            ),
            "params.initiative",
            "not both or neither",
        ),
        (
            ('values_query = "initiatives with data"', 'values = ["GG", "PGII"]'),
            "params.initiative.default",
            "expected one of the values listed (GG, PGII)",
        ),
        (
            ('values_query = "initiatives with data"', 'values = ["BRI", "../GG"]'),
            "params.initiative.values.1",
            "refused: it holds a path",
        ),
        (
            ('title = "Programme profile: {initiative}"', 'title = "Profile: {initiatve}"'),
            "title",
            "expected one of {initiative}, {initiative.id}",
        ),
        (
            ('initiatives = ["{initiative}"]', 'initiatives = ["{geography}"]'),
            "initiatives.0",
            "expected {initiative}",
        ),
        (("[params.initiative]", "[params.programme]"), "params", "'programme' is not one of"),
    ],
)
def test_a_bad_parameter_definition_names_the_file_and_the_key(
    custom_home: Path, change: tuple[str, str], key: str, hint: str
) -> None:
    path = custom_home / "reports" / "programme.toml"
    path.write_text(PROGRAMME_PROFILE.replace(*change), "utf-8")
    with pytest.raises(DefinitionError) as caught:
        definitions.load_briefing(path, custom_home / "templates")
    message = str(caught.value)
    assert message.startswith(f"{path}: key '{key}'"), message
    assert hint in message


def test_a_placeholder_without_a_declared_parameter_is_refused(custom_home: Path) -> None:
    path = custom_home / "reports" / "plain.toml"
    path.write_text(
        'title = "About {geography}"\naudience = "A"\ninitiatives = ["BRI"]\n'
        'geographies = ["WLD"]\n[[sections]]\nkind = "key_figures"\nindicators = ["new_deals"]\n',
        "utf-8",
    )
    with pytest.raises(DefinitionError, match="no placeholder \\(no \\[params\\] are declared"):
        definitions.load_briefing(path, custom_home / "templates")


def test_the_schedule_gets_every_variant_with_its_own_recipients(tracker_db: Path) -> None:
    definition = definitions.load_briefing(
        PROJECT / "reports" / f"{REPORT}.toml", PROJECT / "templates"
    )
    with store.connect(tracker_db, read_only=True) as conn:
        scheduled = briefing.scheduled_variants(conn, definition)
    assert [s.arguments for s in scheduled] == [
        (REPORT, "--param", f"geography={value}") for value in CENTRAL_ASIA
    ]
    by_value = {dict(s.definition.variant)["geography"]: s.recipients for s in scheduled}
    assert by_value["KAZ"] == ("country-profiles@example.org", "kazakhstan-desk@example.org")
    assert by_value["TJK"] == ("country-profiles@example.org",)
    assert scheduled[0].definition.title == "Country profile: Kazakhstan"


def test_a_geography_id_that_cannot_name_a_file_is_refused_before_rendering(
    tracker_db: Path, tmp_path: Path
) -> None:
    with duckdb.connect(str(tracker_db)) as conn:
        conn.execute("INSERT INTO geographies (id, name, kind) VALUES ('bad id', 'Bad', 'country')")
        conn.execute(
            "INSERT INTO geography_members (region, member) VALUES ('central-asia', 'bad id')"
        )
    result = invoke("brief", REPORT, "--each", "geography", "--out", tmp_path / "o",
                    db=tracker_db)  # fmt: skip
    assert result.exit_code == 2
    assert "value 'bad id' refused: it is not a plain id" in " ".join(result.output.split())
    assert not (tmp_path / "o").exists()


def test_reports_lists_the_parameters_of_a_briefing(tracker_db: Path) -> None:
    result = invoke("reports", db=tracker_db)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert (
        "parameters: geography (default KAZ; values_query 'countries with data or in a "
        "region with data'); render one per value with --each" in text
    )
