"""Key messages: up to six sentences written from the data by templates, ranked by a score.

Each kind of message (models.KEY_MESSAGE_KINDS) is read off the frames of
`briefing.data._key_message_frames` and scored (README "Key messages" says what each kind
scores and why). A subject (a series, or a target) gets one message, its best; then the
highest scores come first, ties broken by the kind's order, then the section's order of
indicators, initiatives and geographies, then the text, so the same data and as-of date give
the same sentences. Figures are written by tracker.text. A change computed from a qualified
figure says so in words (`at least 31.8 %`, `about 4.0 %`); a change whose direction a
qualifier could reverse, a record a qualifier could undo, and any comparison across
currencies or period lengths are not written at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from tracker.briefing.wording import when
from tracker.models import KEY_MESSAGE_KINDS, SectionSpec
from tracker.periods import parse_period
from tracker.text import amount, percent

# Sources of one point further apart than this, as a share of the headline, disagree (as in
# the key figures' "sources differ" line).
SOURCES_DISAGREE_ABOVE = 0.05
# The score of each kind before the size of what it reports is added (README "Key messages").
BASE_SCORES = {
    "target_reached": 100.0, "target_reached_before": 30.0, "projection_moved": 50.0,
    "revision": 40.0, "since_previous_issue": 40.0, "record": 40.0, "change": 30.0,
    "sources_differ": 35.0,
}  # fmt: skip
LOWER_BOUNDS = {"more than", "at least"}  # the true value may be higher than stated
UPPER_BOUNDS = {"less than", "up to"}  # the true value may be lower than stated
STRICT = {"more than", "less than"}


@dataclass(frozen=True)
class Candidate:
    """One sentence that could be a key message: its kind, score, what it is about (one
    message per subject), its place in the section's order, its text and its sources."""

    kind: str
    score: float
    subject: tuple[str, ...]
    order: tuple[int, int, int]
    text: str
    sources: tuple[str, ...]
    figure: Mapping[str, Any]  # indicator, initiative, geography, period, value, ... (CSV)


def size(share: float | None) -> float:
    """Points a relative size adds to a score: half its percentage, at most 50.

    >>> size(0.318), size(2.5), size(None)
    (15.9, 50.0, 0.0)
    """
    if share is None:
        return 0.0
    return round(min(abs(share) * 100, 100.0) / 2, 1)


def change_qualifier(new: str | None, old: str | None, delta: float) -> tuple[bool, str | None]:
    """Whether a change from a figure qualified `old` to one qualified `new` can be written,
    and the qualifier of its size: exact figures give an exact change; approximate ones an
    approximate change; a bound gives a bound only when it pushes the same way as the change
    (a rise from 50 to more than 60 is a rise of more than 20 %), else nothing is written
    (a rise from more than 50 to 60 might be a fall).

    >>> change_qualifier(None, None, 10), change_qualifier("approximate", None, -3)
    ((True, None), (True, 'approximate'))
    >>> change_qualifier("more than", None, 10), change_qualifier(None, "more than", 10)
    ((True, 'more than'), (False, None))
    """
    given = {q for q in (new, old) if q}
    if not given:
        return True, None
    if given == {"approximate"}:
        return True, "approximate"
    if "approximate" in given:
        return False, None
    pushes_up = (new in LOWER_BOUNDS or new is None) and (old in UPPER_BOUNDS or old is None)
    pushes_down = (new in UPPER_BOUNDS or new is None) and (old in LOWER_BOUNDS or old is None)
    strict = bool(given & STRICT)
    if pushes_up and delta >= 0 or pushes_down and delta <= 0:
        return True, "more than" if strict else "at least"
    return False, None


def in_period(period: str) -> str:
    """A period as a sentence places a figure in it: 'in 2025', 'on 9 October 2025'.

    >>> in_period("2025"), in_period("2025-H1"), in_period("2025-10-09")
    ('in 2025', 'in 2025-H1', 'on 9 October 2025')
    """
    parsed = parse_period(period)
    if parsed is not None and parsed.grain == "day":
        return f"on {when(parsed.start)}"
    return f"in {period}"


def grain(period: str) -> str:
    """The period length of a period text: year, half, quarter, month, day, fiscal_year.

    >>> grain("2024"), grain("2025-H1"), grain("FY2024/25")
    ('year', 'half', 'fiscal_year')
    """
    parsed = parse_period(period)
    return parsed.grain if parsed is not None else "fiscal_year"


def candidates(
    spec: SectionSpec,
    frames: Mapping[str, pl.DataFrame],
    previous_figures: pl.DataFrame,
    previous_issue: int | None,
) -> list[Candidate]:
    """Every message the frames support, of the kinds `spec` asks for."""
    writer = _Writer(spec, previous_issue)
    series = frames.get("series", pl.DataFrame())
    found: list[Candidate] = []
    for row in series.iter_rows(named=True):
        found += writer.series(row)
    stored = {
        (r["indicator"], r["initiative"], r["geography"]): r
        for r in previous_figures.iter_rows(named=True)
    }
    if previous_issue is not None:
        for row in series.iter_rows(named=True):
            before = stored.get((row["indicator"], row["initiative"], row["geography"]))
            if before is not None:
                found += writer.since_previous_issue(row, before)
    names = {r["geography"]: r["geography_name"] for r in series.iter_rows(named=True)}
    for row in frames.get("changes", pl.DataFrame()).iter_rows(named=True):
        if row["change"] == "revised":
            found += writer.revision(row, names.get(row["geography"]) or row["geography"])
    before_targets = {
        (r["label"], r["indicator"], r["initiative"], r["geography"]): r
        for r in frames.get("targets_before", pl.DataFrame()).iter_rows(named=True)
    }
    for row in frames.get("targets", pl.DataFrame()).iter_rows(named=True):
        key = (row["label"], row["indicator"], row["initiative"], row["geography"])
        found += writer.target(row, before_targets.get(key))
    return [c for c in found if c.kind in spec.message_kinds]


def rank(found: Sequence[Candidate], limit: int) -> list[Candidate]:
    """The best message of each subject, highest score first (ties: kind order, section
    order, text), at most `limit`."""
    kinds = {kind: n for n, kind in enumerate(KEY_MESSAGE_KINDS)}

    def key(c: Candidate) -> tuple[float, int, tuple[int, int, int], str]:
        return (-c.score, kinds[c.kind], c.order, c.text)

    best: dict[tuple[str, ...], Candidate] = {}
    for candidate in sorted(found, key=key):
        best.setdefault(candidate.subject, candidate)
    return sorted(best.values(), key=key)[:limit]


class _Writer:
    """The sentence templates, one method per kind; each returns [] or one candidate."""

    def __init__(self, spec: SectionSpec, previous_issue: int | None) -> None:
        self.spec = spec
        self.issue = previous_issue

    def order(self, indicator: str, initiative: str, geography: str) -> tuple[int, int, int]:
        def position(names: tuple[str, ...], name: str) -> int:
            return names.index(name) if name in names else len(names)

        return (
            position(self.spec.indicators, indicator),
            position(self.spec.initiatives, initiative),
            position(self.spec.geographies, geography),
        )

    @staticmethod
    def figure(row: Mapping[str, Any], value: float, qualifier: str | None,
               currency: str | None, kind: str | None = None) -> str:  # fmt: skip
        """A figure as tracker.text writes it, tagged when its source is secondary."""
        text = amount(value, row["unit"], currency, row.get("count_noun"), qualifier)
        return f"{text} (secondary source)" if kind == "secondary" else text

    def candidate(
        self, kind: str, score: float, row: Mapping[str, Any], text: str,
        sources: Sequence[str | None], subject: tuple[str, ...] | None = None,
    ) -> Candidate:  # fmt: skip
        series = (row["indicator"], row["initiative"], row["geography"])
        return Candidate(
            kind=kind,
            score=round(score, 1),
            subject=subject or ("series", *series),
            order=self.order(*series),
            text=text,
            sources=tuple(dict.fromkeys(s for s in sources if s)),
            figure=row,
        )

    @staticmethod
    def subject(row: Mapping[str, Any], geography_name: str | None = None) -> str:
        where = ", ".join(
            filter(
                None,
                [
                    row["initiative"],
                    geography_name or row.get("geography_name") or row["geography"],
                ],
            )
        )
        return f"{row['indicator_name']}, {where},"  # fmt: skip

    # --- series: change against the previous period, record, sources that disagree ------

    def series(self, row: Mapping[str, Any]) -> list[Candidate]:
        found = self.change(row) + self.sources_differ(row)
        return found

    def change(self, row: Mapping[str, Any]) -> list[Candidate]:
        share = row["change_share"]
        if row["previous_period"] is None or share is None:
            return []
        ok, qualifier = change_qualifier(row["qualifier"], row["previous_qualifier"], share)
        if not ok:
            return []
        new = self.figure(row, row["value"], row["qualifier"], row["currency"],
                          row["source_kind"])  # fmt: skip
        old = self.figure(row, row["previous_value"], row["previous_qualifier"],
                          row["previous_currency"], row["previous_source_kind"])  # fmt: skip
        sources = [row["source"], row["previous_source"]]
        subject = self.subject(row)
        if share == 0 and qualifier is None:
            text = (f"{subject} was unchanged at {new} {in_period(row['period'])}, as "
                    f"{in_period(row['previous_period'])}.")  # fmt: skip
            return [self.candidate("change", BASE_SCORES["change"], row, text, sources)]
        size_text = percent(abs(share), qualifier)
        if self.is_record(row):
            text = (
                f"{subject} reached {new} {in_period(row['period'])}, the highest since the series "
                f"began {in_period(row['first_period'])}: up {size_text} from {old} "
                f"{in_period(row['previous_period'])}."
            )
            return [self.candidate("record", BASE_SCORES["record"] + size(share), row, text,
                                   sources)]  # fmt: skip
        verb = "rose" if share > 0 else "fell"
        text = (f"{subject} {verb} {size_text} to {new} {in_period(row['period'])}, from {old} "
                f"{in_period(row['previous_period'])}.")  # fmt: skip
        return [self.candidate("change", BASE_SCORES["change"] + size(share), row, text, sources)]

    @staticmethod
    def is_record(row: Mapping[str, Any]) -> bool:
        """The newest figure of a flow is above every earlier one of its period length (at
        least two), in one currency, and no qualifier could undo that."""
        return bool(
            row["measure"] == "flow"
            and (row["earlier_points"] or 0) >= 2
            and row["earlier_same_currency"]
            and not row["earlier_open_above"]
            and row["qualifier"] not in UPPER_BOUNDS | {"approximate"}
            and row["value"] > row["earlier_max"]
            and (row["change_share"] or 0) > 0
        )

    def sources_differ(self, row: Mapping[str, Any]) -> list[Candidate]:
        figures = row["point_figures"] or []
        if len(figures) < 2 or not figures[0]["value"]:
            return []
        head = figures[0]
        if head["qualifier"] in LOWER_BOUNDS | UPPER_BOUNDS:
            return []
        apart = []
        for other in figures[1:]:
            if other["currency"] != head["currency"] or other["qualifier"] in (
                LOWER_BOUNDS | UPPER_BOUNDS
            ):
                continue
            gap = abs(other["value"] - head["value"]) / abs(head["value"])
            if gap > SOURCES_DISAGREE_ABOVE:
                approximate = "approximate" in (head["qualifier"], other["qualifier"])
                apart.append((gap, other, "approximate" if approximate else None))
        if not apart:
            return []
        apart.sort(key=lambda item: (-item[0], item[1]["source"]))
        others = "; ".join(
            f"{self.figure(row, o['value'], o['qualifier'], o['currency'])} "
            f"({o['kind'] or 'unspecified'}), {percent(gap, q)} apart"
            for gap, o, q in apart
        )
        shown = self.figure(row, head["value"], head["qualifier"], head["currency"])
        text = (
            f"Sources disagree on {self.subject(row).rstrip(',')} for {row['period']}: "
            f"{shown} ({head['kind'] or 'unspecified'}, the headline) against {others}."
        )
        sources = [head["source"], *(o["source"] for _, o, _ in apart)]
        score = BASE_SCORES["sources_differ"] + size(apart[0][0])
        return [self.candidate("sources_differ", score, row, text, sources)]

    # --- against the previous issue -----------------------------------------------------

    def since_previous_issue(
        self, row: Mapping[str, Any], before: Mapping[str, Any]
    ) -> list[Candidate]:
        """A newer period than the previous issue showed for the series."""
        if before["period"] == row["period"] or before["value"] is None:
            return []
        new = self.figure(row, row["value"], row["qualifier"], row["currency"],
                          row["source_kind"])  # fmt: skip
        old = self.figure(row, before["value"], before.get("qualifier"), before["currency"])
        comparable = (
            grain(before["period"]) == row["grain"]
            and before["currency"] == row["currency"]
            and before["value"] != 0
        )
        share = row["value"] / before["value"] - 1 if comparable else None
        ok, qualifier = (False, None)
        if share is not None:
            ok, qualifier = change_qualifier(row["qualifier"], before.get("qualifier"), share)
        moved = ""
        if ok and share is not None:
            moved = (f", {'up' if share >= 0 else 'down'} {percent(abs(share), qualifier)}"
                     if share != 0 or qualifier else ", unchanged")  # fmt: skip
        text = (
            f"{self.subject(row)} now {new} for {row['period']}; issue {self.issue} showed "
            f"{old} for {before['period']}{moved}."
        )
        score = BASE_SCORES["since_previous_issue"] + (size(share) if ok else 0.0)
        return [self.candidate("since_previous_issue", score, row, text, [row["source"]])]

    def revision(self, row: Mapping[str, Any], geography_name: str) -> list[Candidate]:
        """A point whose value (or qualifier) changed between vintages since the previous
        issue."""
        old = self.figure(row, row["old_value"], row["old_qualifier"], row["old_currency"])
        new = self.figure(row, row["new_value"], row["new_qualifier"], row["new_currency"])
        share = None
        if row["old_currency"] == row["new_currency"] and row["old_value"]:
            share = row["new_value"] / row["old_value"] - 1
        how = ""
        score = BASE_SCORES["revision"]
        if share is not None:
            ok, qualifier = change_qualifier(row["new_qualifier"], row["old_qualifier"], share)
            if ok and (share != 0 or qualifier):
                how = f" {'up' if share > 0 else 'down'} {percent(abs(share), qualifier)}"
                score += size(share)
        subject = self.subject(row, geography_name).rstrip(",")
        text = (
            f"{subject}, {row['period']}: revised{how} since issue {self.issue}, from {old} "
            f"to {new}."
        )
        return [self.candidate("revision", score, row, text, [row["source"]])]

    # --- targets ---------------------------------------------------------------------------

    def target(self, row: Mapping[str, Any], before: Mapping[str, Any] | None) -> list[Candidate]:
        subject = ("target", row["label"], row["indicator"], row["initiative"], row["geography"])
        sources = [row["target_source"], row["latest_source"]]
        found = []
        qualifier = row["latest_qualifier"]
        if row["trend_status"] == "reached" and qualifier not in UPPER_BOUNDS:
            latest = self.figure(row, row["latest_value"], qualifier, row["target_currency"])
            goal = amount(row["target_value"], row["unit"], row["target_currency"],
                          row.get("count_noun"))  # fmt: skip
            verb = "is reached" if qualifier != "approximate" else "is about reached"
            share = percent(row["share_achieved"], qualifier)
            was_reached = before is not None and before["trend_status"] == "reached"
            if self.issue is None or not was_reached:
                since = f" since issue {self.issue}" if self.issue is not None else ""
                text = (
                    f"The target “{row['label']}” {verb}{since}: {latest} "
                    f"{in_period(row['latest_period'])}, {share} of {goal}."
                )
                score = BASE_SCORES["target_reached"]
            else:
                text = (
                    f"The target “{row['label']}” was already reached at issue {self.issue}; "
                    f"now {latest} {in_period(row['latest_period'])}, {share} of {goal}."
                )
                score = BASE_SCORES["target_reached_before"]
            found.append(self.candidate("target_reached", score, row, text, sources, subject))
        if (
            before is not None
            and row["trend_status"] == "projected"
            and before["trend_status"] == "projected"
        ):
            now: date = row["projected_date"]
            then: date = before["projected_date"]
            months = abs((now.year - then.year) * 12 + now.month - then.month)
            if months:
                direction = "earlier" if now < then else "later"
                firm = ""
                if row["trend_qualifiers"]:
                    firm = (f" The trend runs through figures that are not exact "
                            f"({row['trend_qualifiers']}).")  # fmt: skip
                text = (
                    f"The projected date for the target “{row['label']}” moved {months} "
                    f"month(s) {direction} since issue {self.issue}, from {then:%b %Y} to "
                    f"{now:%b %Y} (a straight line through the last two points).{firm}"
                )
                score = BASE_SCORES["projection_moved"] + min(months, 30)
                found.append(self.candidate("projection_moved", score, row, text, sources,
                                            (*subject, "projection")))  # fmt: skip
        return found
