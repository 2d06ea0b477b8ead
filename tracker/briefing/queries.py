"""The SQL a briefing runs, as named text: the scoped queries of `briefing.data`.

Scoped queries take the parameters $1..$6 of `briefing.data.Scope` (cutoff, indicators,
initiatives, geographies, window start and end) and read the as-of macros of migration 001,
so `--as-of` and a current run share one path.
"""

# One value per series point (indicator, initiative, geography, period): the headline rule
# of migration 009 (`headline_order`: the indicator's preferred source, then primary over
# secondary over unspecified, then the newest published, then by id).
# `point_sources` keeps every source that gives the point: they are never merged;
# `point_figures` holds each one's figure, the headline first.
# `grain` (year, half, quarter, month, day, fiscal_year) keeps half-years from being compared
# with years, and a fiscal year (FY2024/25) from being compared with a calendar year.
# A point is also one contributor's (migration 012): the US's figure and the whole
# programme's are two figures, never one point's sources.
POINTS_CTE = """
points AS (
    SELECT o.indicator, i.name AS indicator_name, i.unit, i.measure, i.frequency,
           o.initiative, o.geography, o.period, o.period_start, o.period_end, o.value,
           o.qualifier, o.currency, o.source, s.kind AS source_kind, o.note, o.recorded_at,
           o.contributor,
           CASE
               WHEN o.period LIKE 'FY%' THEN 'fiscal_year'
               WHEN o.period LIKE '%-H%' THEN 'half'
               WHEN o.period LIKE '%-Q%' THEN 'quarter'
               WHEN length(o.period) = 4 THEN 'year'
               WHEN length(o.period) = 7 THEN 'month'
               ELSE 'day'
           END AS grain,
           list(o.source ORDER BY o.source) OVER same_point AS point_sources,
           list(struct_pack(source := o.source, value := o.value, currency := o.currency,
                            qualifier := o.qualifier, kind := s.kind)
                ORDER BY headline_order(o.source, i.preferred_source, s.kind, s.published)
           ) OVER same_point AS point_figures
    FROM observations_as_of($1) AS o
    JOIN indicators AS i ON i.id = o.indicator
    LEFT JOIN sources AS s ON s.id = o.source
    WHERE list_contains($2, o.indicator) AND list_contains($3, o.initiative)
      AND list_contains($4, o.geography) AND o.period_end >= $5 AND o.period_start <= $6
    WINDOW same_point AS (
        PARTITION BY o.indicator, o.initiative, o.geography, o.period, o.contributor
    )
    QUALIFY row_number() OVER (
        PARTITION BY o.indicator, o.initiative, o.geography, o.period, o.contributor
        ORDER BY headline_order(o.source, i.preferred_source, s.kind, s.published)
    ) = 1
)"""

KNOWN_NAMES = """
SELECT 'indicator' AS kind, id FROM indicators
UNION ALL SELECT 'initiative', id FROM initiatives
UNION ALL SELECT 'geography', id FROM geographies
"""

# The name of every indicator, initiative and geography, by kind (what a briefing says
# where it names one it has no figure for).
NAMES = """
SELECT 'indicator' AS kind, id, name FROM indicators
UNION ALL SELECT 'initiative', id, name FROM initiatives
UNION ALL SELECT 'geography', id, name FROM geographies
"""

INITIATIVES = """
SELECT id, name, sponsor, measures, colour FROM initiatives ORDER BY id
"""

SOURCES = """
SELECT id, title, publisher, url, published, accessed, kind, note FROM sources ORDER BY id
"""

# The newest point of each (indicator, initiative, geography), its change against the
# previous point of the same grain, and one 'no data yet' row per indicator without points.
KEY_FIGURES = f"""
WITH {POINTS_CTE},
latest AS (
    SELECT p.*,
           lag(p.period) OVER same_grain AS previous_period,
           lag(p.value) OVER same_grain AS previous_value,
           lag(p.qualifier) OVER same_grain AS previous_qualifier,
           lag(p.currency) OVER same_grain AS previous_currency,
           lag(p.source) OVER same_grain AS previous_source
    FROM points AS p
    WINDOW same_grain AS (
        PARTITION BY p.indicator, p.initiative, p.geography, p.contributor, p.grain
        ORDER BY p.period_end
    )
    QUALIFY row_number() OVER (
        PARTITION BY p.indicator, p.initiative, p.geography, p.contributor
        ORDER BY p.period_end DESC, p.period_start ASC
    ) = 1
),
wanted AS (
    SELECT unnest($2) AS indicator, generate_subscripts($2, 1) AS position
)
SELECT w.indicator, i.name AS indicator_name, i.unit, i.count_noun, i.measure, i.frequency,
       l.initiative, n.name AS initiative_name, l.geography, g.name AS geography_name,
       l.period, l.grain, l.value, l.qualifier, l.currency, l.source, l.source_kind, l.note,
       l.point_sources, l.point_figures, l.recorded_at, l.contributor,
       gc.name AS contributor_name, l.previous_period, l.previous_value, l.previous_qualifier,
       l.previous_source,
       CASE WHEN l.previous_currency IS NOT DISTINCT FROM l.currency
            THEN round(l.value - l.previous_value, 9) END AS change,
       CASE WHEN l.previous_currency IS NOT DISTINCT FROM l.currency
                 AND l.previous_value <> 0
            THEN round(l.value / l.previous_value - 1, 9) END AS change_share
FROM wanted AS w
JOIN indicators AS i ON i.id = w.indicator
LEFT JOIN latest AS l ON l.indicator = w.indicator
LEFT JOIN initiatives AS n ON n.id = l.initiative
LEFT JOIN geographies AS g ON g.id = l.geography
LEFT JOIN geographies AS gc ON gc.id = l.contributor
ORDER BY w.position, list_position($3, l.initiative), list_position($4, l.geography),
         l.contributor NULLS FIRST
"""

# Key messages (tracker.briefing.key_messages): the newest point of each series, as
# KEY_FIGURES reads it, with what a record needs: how many earlier points of the same grain
# there are, their highest value, their currencies, and whether any of them is a figure whose
# true value may be higher than stated (approximate, 'more than', 'at least'), which no
# record may be claimed over.
KEY_MESSAGE_SERIES = f"""
WITH {POINTS_CTE},
latest AS (
    SELECT p.*,
           lag(p.period) OVER same_grain AS previous_period,
           lag(p.value) OVER same_grain AS previous_value,
           lag(p.qualifier) OVER same_grain AS previous_qualifier,
           lag(p.currency) OVER same_grain AS previous_currency,
           lag(p.source) OVER same_grain AS previous_source,
           lag(p.source_kind) OVER same_grain AS previous_source_kind,
           first_value(p.period) OVER same_grain AS first_period,
           count(*) OVER earlier AS earlier_points,
           max(p.value) OVER earlier AS earlier_max,
           min(p.currency) OVER earlier AS earlier_min_currency,
           max(p.currency) OVER earlier AS earlier_max_currency,
           coalesce(bool_or(p.qualifier IN ('approximate', 'more than', 'at least'))
                    OVER earlier, false) AS earlier_open_above
    FROM points AS p
    WINDOW same_grain AS (
        PARTITION BY p.indicator, p.initiative, p.geography, p.contributor, p.grain
        ORDER BY p.period_end
    ),
    earlier AS (same_grain ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    QUALIFY row_number() OVER (
        PARTITION BY p.indicator, p.initiative, p.geography, p.contributor
        ORDER BY p.period_end DESC, p.period_start ASC
    ) = 1
)
SELECT l.indicator, l.indicator_name, l.unit, i.count_noun, l.measure, l.initiative,
       n.name AS initiative_name, l.geography, g.name AS geography_name, l.period, l.grain,
       l.value, l.qualifier, l.currency, l.source, l.source_kind, l.point_figures,
       l.recorded_at, l.previous_period, l.previous_value, l.previous_qualifier,
       l.previous_currency, l.previous_source, l.previous_source_kind, l.first_period,
       l.earlier_points, l.earlier_max, l.earlier_open_above,
       l.earlier_min_currency IS NOT DISTINCT FROM l.currency
           AND l.earlier_max_currency IS NOT DISTINCT FROM l.currency AS earlier_same_currency,
       CASE WHEN l.previous_currency IS NOT DISTINCT FROM l.currency
                 AND l.previous_value <> 0
            THEN round(l.value / l.previous_value - 1, 9) END AS change_share,
       list_position($2, l.indicator) AS indicator_position,
       list_position($3, l.initiative) AS initiative_position,
       list_position($4, l.geography) AS geography_position
FROM latest AS l
JOIN indicators AS i ON i.id = l.indicator
LEFT JOIN initiatives AS n ON n.id = l.initiative
LEFT JOIN geographies AS g ON g.id = l.geography
ORDER BY indicator_position, initiative_position, geography_position
"""

# Money figures of the programmes on one USD basis, through comparison_usd_as_of, with
# what each programme counts (initiatives.measures) and whether the source is secondary.
# Context figures (GDP, population) are no programme's and are never compared with one.
COMPARISON = """
SELECT c.initiative, c.initiative_name, n.measures, n.colour, c.indicator, c.geography,
       c.period, c.period_end, c.value, c.qualifier, c.currency, c.unit, c.measure,
       c.usd_per_unit,
       c.rate_year, c.rate_source, round(c.value_usd, 9) AS value_usd, c.rate_used, c.source,
       s.kind AS source_kind, c.note, o.recorded_at, c.contributor,
       gc.name AS contributor_name
FROM comparison_usd_as_of($1) AS c
JOIN observations_as_of($1) AS o USING (indicator, initiative, geography, period, source)
LEFT JOIN initiatives AS n ON n.id = c.initiative
LEFT JOIN sources AS s ON s.id = c.source
LEFT JOIN geographies AS gc ON gc.id = c.contributor
WHERE list_contains($2, c.indicator) AND list_contains($3, c.initiative)
  AND list_contains($4, c.geography) AND c.period_end >= $5 AND c.period_end <= $6
  AND NOT c.context
ORDER BY list_position($3, c.initiative), c.period_end, c.source
"""

# The grain (year, half, quarter, month, day) of a period text such as 2024 or 2025-H1.
_GRAIN = """CASE
               WHEN {0} LIKE '%-H%' THEN 'half'
               WHEN {0} LIKE '%-Q%' THEN 'quarter'
               WHEN length({0}) = 4 THEN 'year'
               WHEN length({0}) = 7 THEN 'month'
               ELSE 'day'
           END"""

# Progress toward each target ($7 = the briefing date), and a linear trend through the
# last two points of the target's series (only figures of the target's contributor), in the
# target's currency: the date the trend reaches the target, where it rises. For a flow the
# two points have the latest point's grain (a half-year's flow is not a year's); a level or
# a cumulative figure is a stock at its period's end, so a figure stated on a day
# (2025-10-09) and one at a year's end make a trend.
TARGETS = f"""
WITH progress AS (
    SELECT *, {_GRAIN.format("latest_period")} AS latest_grain
    FROM target_progress_as_of($1, $7)
    WHERE list_contains($2, indicator) AND list_contains($3, initiative)
      AND list_contains($4, geography)
),
{POINTS_CTE},
last_two AS (
    SELECT t.label, t.indicator, t.initiative, t.geography, p.period, p.period_end,
           p.recorded_at, p.qualifier,
           CASE
               WHEN p.currency IS NULL OR p.currency = t.target_currency THEN p.value
               ELSE p.value
                    * (CASE WHEN p.currency = 'USD' THEN 1.0 ELSE rv.usd_per_unit END)
                    / (CASE WHEN t.target_currency = 'USD' THEN 1.0 ELSE rt.usd_per_unit END)
           END AS value
    FROM progress AS t
    JOIN points AS p
        ON p.indicator = t.indicator AND p.initiative = t.initiative
       AND p.geography = t.geography AND p.contributor IS NOT DISTINCT FROM t.contributor
       AND (p.grain = t.latest_grain OR p.measure <> 'flow')
    ASOF LEFT JOIN fx_rates AS rv
        ON rv.currency = p.currency AND year(p.period_end) >= rv.year
    ASOF LEFT JOIN fx_rates AS rt
        ON rt.currency = t.target_currency AND year(p.period_end) >= rt.year
    QUALIFY row_number() OVER (
        PARTITION BY t.label, t.indicator, t.initiative, t.geography
        ORDER BY p.period_end DESC, p.period_start ASC
    ) <= 2
),
trend AS (
    SELECT label, indicator, initiative, geography, count(*) AS trend_points,
           arg_min(period, period_end) AS trend_from_period,
           arg_max(period, period_end) AS trend_to_period,
           min(period_end) AS trend_from_end, max(period_end) AS trend_to_end,
           arg_min(value, period_end) AS trend_from_value,
           arg_max(value, period_end) AS trend_to_value,
           arg_min_null(qualifier, period_end) AS trend_from_qualifier,
           arg_max_null(qualifier, period_end) AS trend_to_qualifier,
           max(recorded_at) AS recorded_at,
           -- a trend through a bound or an approximate figure is one too: say so
           string_agg(DISTINCT qualifier, ', ' ORDER BY qualifier) AS trend_qualifiers
    FROM last_two
    GROUP BY ALL
)
SELECT p.indicator, i.name AS indicator_name, i.unit, i.count_noun, p.initiative,
       n.name AS initiative_name, n.colour, p.geography, g.name AS geography_name, p.label,
       p.target_value, p.target_currency, p.target_unit, p.due, p.target_source,
       p.latest_period, p.latest_value, p.latest_qualifier, p.latest_source,
       p.share_achieved, p.days_left, p.note, p.contributor, gc.name AS contributor_name,
       p.other_figures, tr.trend_points, tr.trend_from_period,
       tr.trend_to_period, tr.trend_from_value, tr.trend_to_value, tr.trend_qualifiers,
       tr.trend_from_qualifier, tr.trend_to_qualifier,
       tr.recorded_at,
       CASE
           -- figures that count another contributor are never set against the target
           WHEN p.latest_value IS NULL AND p.other_figures > 0 THEN 'no comparable figure yet'
           WHEN p.latest_value IS NULL THEN 'no data yet'
           WHEN p.latest_value >= p.target_value THEN 'reached'
           WHEN coalesce(tr.trend_points, 0) < 2 THEN 'one point'
           WHEN tr.trend_to_value <= tr.trend_from_value THEN 'not rising'
           ELSE 'projected'
       END AS trend_status,
       CASE
           WHEN p.latest_value < p.target_value AND tr.trend_points >= 2
                AND tr.trend_to_value > tr.trend_from_value
           THEN tr.trend_to_end + CAST(ceil(
               (p.target_value - tr.trend_to_value)
               * date_diff('day', tr.trend_from_end, tr.trend_to_end)
               / (tr.trend_to_value - tr.trend_from_value)) AS INTEGER)
       END AS projected_date
FROM progress AS p
JOIN indicators AS i ON i.id = p.indicator
LEFT JOIN initiatives AS n ON n.id = p.initiative
LEFT JOIN geographies AS g ON g.id = p.geography
LEFT JOIN geographies AS gc ON gc.id = p.contributor
LEFT JOIN trend AS tr USING (label, indicator, initiative, geography)
ORDER BY list_position($2, p.indicator), list_position($3, p.initiative), p.due,
         p.target_value
"""

# The charts of a series section, as parameters: number, indicator, initiatives (a list
# per chart), geographies (a list per chart).
_CHARTS_CTE = """
charts AS (
    SELECT unnest({0}) AS chart, unnest({1}) AS chart_indicator,
           unnest({2}) AS chart_initiatives, unnest({3}) AS chart_geographies
)"""

# The points of every chart of a section in one query: one value per period (see
# POINTS_CTE; $2..$4 are the union of the charts' names), oldest first within a chart.
SERIES_POINTS = f"""
WITH {_CHARTS_CTE.format("$7", "$8", "$9", "$10")},
{POINTS_CTE}
SELECT c.chart, p.indicator, p.indicator_name, p.unit, i.count_noun, p.initiative,
       n.name AS initiative_name, p.geography, g.name AS geography_name, p.period,
       p.period_start, p.period_end, p.grain, p.value, p.qualifier, p.currency, p.source,
       p.source_kind, p.note, p.point_sources, p.recorded_at, p.contributor
FROM points AS p
JOIN charts AS c
    ON c.chart_indicator = p.indicator AND list_contains(c.chart_initiatives, p.initiative)
   AND list_contains(c.chart_geographies, p.geography)
JOIN indicators AS i ON i.id = p.indicator
LEFT JOIN initiatives AS n ON n.id = p.initiative
LEFT JOIN geographies AS g ON g.id = p.geography
ORDER BY c.chart, list_position(c.chart_initiatives, p.initiative),
         list_position(c.chart_geographies, p.geography), p.period_end, p.period_start DESC
"""

# Targets drawn as a line on a chart of the same indicator, initiatives and geographies.
CHART_TARGETS = f"""
WITH {_CHARTS_CTE.format("$1", "$2", "$3", "$4")}
SELECT c.chart, t.indicator, t.initiative, t.geography, t.label, t.value, t.currency,
       t.unit_as_given, t.due, t.source
FROM targets AS t
JOIN charts AS c
    ON c.chart_indicator = t.indicator AND list_contains(c.chart_initiatives, t.initiative)
   AND list_contains(c.chart_geographies, t.geography)
ORDER BY c.chart, t.due, t.value
"""

# Points recorded after the previous briefing's data-as-of ($7) and up to the cutoff:
# 'new' when the point had no vintage then, else a revision (old value -> new value).
CHANGES = """
WITH scoped_now AS (
    SELECT * FROM observations_as_of($1)
    WHERE list_contains($2, indicator) AND list_contains($3, initiative)
      AND list_contains($4, geography) AND period_end >= $5 AND period_start <= $6
      AND recorded_at > $7
),
scoped_then AS (
    SELECT * FROM observations_as_of($7)
    WHERE list_contains($2, indicator) AND list_contains($3, initiative)
      AND list_contains($4, geography)
)
SELECT CASE
           WHEN b.indicator IS NULL THEN 'new'
           WHEN b.value = c.value AND b.currency IS NOT DISTINCT FROM c.currency
                AND b.qualifier IS NOT DISTINCT FROM c.qualifier
           THEN 'note revised'
           ELSE 'revised'
       END AS change,
       c.indicator, i.name AS indicator_name, i.unit, i.count_noun, c.initiative, c.geography,
       c.period,
       b.value AS old_value, b.qualifier AS old_qualifier, b.currency AS old_currency,
       c.value AS new_value, c.qualifier AS new_qualifier, c.currency AS new_currency,
       c.source, c.note, b.note AS old_note, c.recorded_at,
       b.recorded_at AS old_recorded_at
FROM scoped_now AS c
JOIN indicators AS i ON i.id = c.indicator
LEFT JOIN scoped_then AS b USING (indicator, initiative, geography, period, source)
ORDER BY list_position($2, c.indicator), c.initiative, c.geography, c.period_end, c.source
"""

# The newest point of each indicator against its frequency's rule (freshness_rules):
# 'stale' when it ended more than max_age_months before the briefing date ($7).
FRESHNESS = """
WITH newest AS (
    SELECT indicator, max(period_end) AS newest_end,
           arg_max(period, period_end) AS newest_period,
           arg_max(source, period_end) AS newest_source
    FROM observations_as_of($1)
    WHERE list_contains($2, indicator) AND list_contains($3, initiative)
      AND list_contains($4, geography) AND period_end >= $5 AND period_start <= $6
    GROUP BY indicator
),
wanted AS (
    SELECT unnest($2) AS indicator, generate_subscripts($2, 1) AS position
)
SELECT w.indicator, i.name AS indicator_name, i.frequency, r.max_age_months,
       n.newest_period, n.newest_end, n.newest_source,
       date_diff('month', n.newest_end, CAST($7 AS DATE)) AS age_months,
       CASE
           WHEN n.newest_end IS NULL THEN 'no data yet'
           WHEN n.newest_end < CAST($7 AS DATE) - to_months(r.max_age_months) THEN 'stale'
           ELSE 'fresh'
       END AS status
FROM wanted AS w
JOIN indicators AS i ON i.id = w.indicator
LEFT JOIN freshness_rules AS r ON r.frequency = i.frequency
LEFT JOIN newest AS n ON n.indicator = w.indicator
ORDER BY CASE status WHEN 'stale' THEN 0 WHEN 'no data yet' THEN 1 ELSE 2 END, w.position
"""

FRESHNESS_RULES = """
SELECT frequency, max_age_months FROM freshness_rules ORDER BY max_age_months
"""


# The published issue started by `cutoff` that the next issue (or a draft) compares against,
# with the number of such issues. A draft is never the previous briefing. It runs on the run
# history (store.read_run_history), not on the main database. $3: a variant's parameter values
# (JSON; NULL for a briefing without parameters), so issues are counted per variant.
PREVIOUS_RUN = """
SELECT id, started_at, briefing_date, data_as_of, issue, key_figures,
       count(*) OVER () AS earlier_runs
FROM report_runs
WHERE report = $1 AND status = 'succeeded' AND published AND started_at <= $2
  AND params IS NOT DISTINCT FROM $3
ORDER BY started_at DESC, id DESC
LIMIT 1
"""
