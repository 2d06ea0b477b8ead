"""What each alert definition finds in the store now: its events, each with a key that
names what happened to which point (so it is sent once), the figure as `tracker.text`
writes it (qualifier included) and its source as a citation.

- target_reached: a target of `target_progress` whose share is 100 % or more, reached by a
  figure of the target's own contributor (the view compares only those). A figure stated
  as 'more than' or 'at least' reaches it for sure and says so; an 'approximate' one says
  'about'; one stated as 'up to' or 'less than' is a ceiling, never proof: no event.
- revision: a vintage recorded after the alert's baseline whose value differs from the
  vintage it replaced by more than `threshold_percent` of that value.
- new_figure: the first vintage of a point, recorded after the alert's baseline.
- stale: an indicator whose newest point ended longer ago than `freshness_rules` allows for
  its frequency (the rule of the briefings' freshness section), once per newest point.

Reads the main database only (read-only); the baselines are given by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from tracker import store
from tracker.models import AlertDefinition
from tracker.text import amount, number, only, percent

# The scope of a definition: NULL lists mean every indicator, initiative, geography.
_SCOPE = """
    (CAST($1 AS VARCHAR[]) IS NULL OR list_contains(CAST($1 AS VARCHAR[]), {a}.indicator))
    AND (CAST($2 AS VARCHAR[]) IS NULL OR list_contains(CAST($2 AS VARCHAR[]), {a}.initiative))
    AND (CAST($3 AS VARCHAR[]) IS NULL OR list_contains(CAST($3 AS VARCHAR[]), {a}.geography))
"""
# What every figure line needs: names, unit, noun, the source's citation (never its note,
# which may hold a path of the analyst's machine).
_NAMES = """
    i.name AS indicator_name, i.unit, i.count_noun, n.name AS initiative_name,
    g.name AS geography_name, cg.name AS contributor_name, s.title AS source_title,
    s.publisher AS source_publisher, s.published AS source_published, s.url AS source_url,
    s.kind AS source_kind
"""
_JOINS = """
JOIN indicators AS i ON i.id = o.indicator
LEFT JOIN initiatives AS n ON n.id = o.initiative
LEFT JOIN geographies AS g ON g.id = o.geography
LEFT JOIN geographies AS cg ON cg.id = o.contributor
LEFT JOIN sources AS s ON s.id = o.source
"""
_SAME_POINT = """
p.indicator = o.indicator AND p.initiative = o.initiative AND p.geography = o.geography
AND p.period = o.period AND p.source = o.source
"""

# First vintages of points recorded in batches after the baseline ($4).
NEW_FIGURES = f"""
SELECT o.indicator, o.initiative, o.geography, o.period, o.source, o.contributor, o.value,
       o.qualifier, o.currency, o.batch, {_NAMES}
FROM observations AS o
{_JOINS}
WHERE o.batch > $4 AND o.withdrawn IS NOT TRUE AND {_SCOPE.format(a="o")}
  AND NOT EXISTS (SELECT 1 FROM observations AS p WHERE {_SAME_POINT}
                  AND p.recorded_at < o.recorded_at)
ORDER BY o.batch, o.indicator, o.initiative, o.geography, o.period_end, o.source
"""

# Vintages recorded after the baseline ($4) that replaced one whose value differs by more
# than $5 % of it (a previous value of 0: any change).
REVISIONS = f"""
SELECT o.indicator, o.initiative, o.geography, o.period, o.source, o.contributor, o.value,
       o.qualifier, o.currency, o.batch, o.recorded_at, p.value AS previous_value,
       p.qualifier AS previous_qualifier, p.currency AS previous_currency,
       CASE WHEN p.value <> 0 THEN CAST(o.value - p.value AS DOUBLE) / abs(CAST(p.value AS DOUBLE))
       END AS change_share, {_NAMES}
FROM observations AS o
JOIN observations AS p ON {_SAME_POINT} AND p.superseded_at = o.recorded_at
{_JOINS}
WHERE o.batch > $4 AND o.withdrawn IS NOT TRUE AND p.withdrawn IS NOT TRUE
  AND {_SCOPE.format(a="o")}
  AND abs(CAST(o.value - p.value AS DOUBLE)) > abs(CAST(p.value AS DOUBLE)) * $5 / 100
ORDER BY o.batch, o.indicator, o.initiative, o.geography, o.period_end, o.source
"""

# Indicators whose newest current point ended more than the frequency's max_age_months
# before today ($4); the newest point itself (ties: initiative, geography, source).
STALE = f"""
WITH newest AS (
    SELECT o.* FROM observations_current AS o
    WHERE {_SCOPE.format(a="o")}
    QUALIFY row_number() OVER (PARTITION BY o.indicator
                               ORDER BY o.period_end DESC, o.initiative, o.geography,
                                        o.source) = 1
)
SELECT o.indicator, o.initiative, o.geography, o.period, o.period_end, o.source,
       o.contributor, o.value, o.qualifier, o.currency, i.frequency, r.max_age_months,
       {_NAMES}
FROM newest AS o
{_JOINS}
JOIN freshness_rules AS r ON r.frequency = i.frequency
WHERE o.period_end < CAST($4 AS DATE) - to_months(r.max_age_months)
ORDER BY o.indicator
"""

# Targets reached: share_achieved >= 1 by a figure of the target's own contributor, with
# that figure as stated (its own currency) beside the target.
TARGETS_REACHED = f"""
SELECT t.label, t.target_value, t.target_currency, t.due, t.share_achieved,
       t.latest_period AS period, t.latest_value, o.indicator, o.initiative, o.geography,
       o.source, o.contributor, o.value, o.qualifier, o.currency, {_NAMES}
FROM target_progress AS t
JOIN observations_current AS o
    ON o.indicator = t.indicator AND o.initiative = t.initiative
   AND o.geography = t.geography AND o.period = t.latest_period
   AND o.source = t.latest_source AND o.contributor IS NOT DISTINCT FROM t.contributor
{_JOINS}
WHERE t.share_achieved >= 1 AND {_SCOPE.format(a="t")}
  AND (t.latest_qualifier IS NULL OR t.latest_qualifier NOT IN ('up to', 'less than'))
ORDER BY t.indicator, t.initiative, t.geography, t.label
"""

NEWEST_BATCH = "SELECT coalesce(max(id), 0) AS id FROM batches"


@dataclass(frozen=True)
class AlertEvent:
    """One thing an alert announces, once: `key` names it within its alert."""

    alert: str
    kind: str
    key: str
    summary: str  # one line: what happened, the figure as stated
    source: str  # the figure's source as a citation
    batch: int | None = None  # the batch that brought it (new_figure, revision)


def newest_batch(conn: store.Connection) -> int:
    """The id of the newest batch (0 when nothing was ever loaded): a new alert's baseline."""
    return int(store.query(conn, NEWEST_BATCH)["id"][0])


def alert_events(
    conn: store.Connection, definition: AlertDefinition, since_batch: int, today: date
) -> list[AlertEvent]:
    """The events `definition` finds now; new_figure and revision only after `since_batch`."""
    scope: list[object] = [
        list(definition.indicators) or None,
        list(definition.initiatives) or None,
        list(definition.geographies) or None,
    ]
    kind = definition.kind
    if kind == "new_figure":
        rows = store.query(conn, NEW_FIGURES, [*scope, since_batch]).iter_rows(named=True)
        return [_new_figure(definition, row) for row in rows]
    if kind == "revision":
        threshold = definition.threshold_percent or 0.0
        frame = store.query(conn, REVISIONS, [*scope, since_batch, threshold])
        return [_revision(definition, row) for row in frame.iter_rows(named=True)]
    if kind == "stale":
        rows = store.query(conn, STALE, [*scope, today]).iter_rows(named=True)
        return [_stale(definition, row) for row in rows]
    rows = store.query(conn, TARGETS_REACHED, scope).iter_rows(named=True)
    return [_target(definition, row) for row in rows]


def _figure(row: dict[str, Any], value_key: str = "value", prefix: str = "") -> str:
    return amount(row[value_key], row["unit"], row[f"{prefix}currency"], row["count_noun"],
                  row[f"{prefix}qualifier"])  # fmt: skip


def _where(row: dict[str, Any]) -> str:
    """'GG, World' or 'PGII, World, United States only'."""
    parts = [row["initiative"], row["geography_name"] or row["geography"],
             only(row["contributor_name"] or row["contributor"])]  # fmt: skip
    return ", ".join(p for p in parts if p)


def _point_key(row: dict[str, Any]) -> str:
    return "|".join(str(row[k]) for k in ("indicator", "initiative", "geography", "period",
                                          "source"))  # fmt: skip


def citation(row: dict[str, Any]) -> str:
    """The source as readers cite it: title, publisher, date, URL; 'secondary' when it is."""
    title = row["source_title"] or row["source"]
    published = row["source_published"]
    parts = [title, row["source_publisher"], f"{published:%-d %B %Y}" if published else None]
    text = ", ".join(str(p) for p in parts if p)
    if row["source_url"]:
        text += f" <{row['source_url']}>"
    if row["source_kind"] == "secondary":
        text += " (secondary source)"
    return text


def _new_figure(definition: AlertDefinition, row: dict[str, Any]) -> AlertEvent:
    summary = (
        f"New figure: {row['indicator_name']} ({_where(row)}), {row['period']}: {_figure(row)}"
    )
    return AlertEvent(definition.name, "new_figure", f"new_figure|{_point_key(row)}", summary,
                      citation(row), int(row["batch"]))  # fmt: skip


def _revision(definition: AlertDefinition, row: dict[str, Any]) -> AlertEvent:
    was = _figure(row, "previous_value", "previous_")
    share = row["change_share"]
    by = "" if share is None else f" ({'+' if share > 0 else ''}{number(share * 100)} %)"
    summary = (
        f"Revised: {row['indicator_name']} ({_where(row)}), {row['period']}: {was} -> "
        f"{_figure(row)}{by}"
    )
    key = f"revision|{_point_key(row)}|{row['recorded_at']:%Y-%m-%dT%H:%M:%S.%f}"
    return AlertEvent(definition.name, "revision", key, summary, citation(row), int(row["batch"]))


def _stale(definition: AlertDefinition, row: dict[str, Any]) -> AlertEvent:
    summary = (
        f"Past its freshness rule: {row['indicator_name']}: the newest figure is for "
        f"{row['period']} (ended {row['period_end']:%-d %B %Y}), {_figure(row)} "
        f"({_where(row)}); a {row['frequency']} indicator is stale after "
        f"{row['max_age_months']} months"
    )
    key = f"stale|{row['indicator']}|{row['period_end']:%Y-%m-%d}"
    return AlertEvent(definition.name, "stale", key, summary, citation(row))


def _target(definition: AlertDefinition, row: dict[str, Any]) -> AlertEvent:
    target = amount(row["target_value"], row["unit"], row["target_currency"], row["count_noun"])
    share = percent(float(row["share_achieved"]), row["qualifier"])
    by_estimate = " (by an approximate figure)" if row["qualifier"] == "approximate" else ""
    summary = (
        f"Target reached{by_estimate}: {row['label']} ({target} by {row['due']:%-d %B %Y}): "
        f"{row['indicator_name']} ({_where(row)}), {row['period']}: {_figure(row)}, {share} "
        "of the target"
    )
    if row["currency"] and row["target_currency"] and row["currency"] != row["target_currency"]:
        converted = amount(row["latest_value"], row["unit"], row["target_currency"],
                           row["count_noun"], row["qualifier"])  # fmt: skip
        summary += f" (converted: {converted})"
    parts = ("indicator", "initiative", "geography", "contributor", "label")
    key = "|".join(["target_reached", *(str(row[p] or "") for p in parts)])
    return AlertEvent(definition.name, "target_reached", key, summary, citation(row))
