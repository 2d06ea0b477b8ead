-- Migration 002: the freshness rule, and the as-of forms of the views that briefings read
-- (a briefing rendered with --as-of reads the data as it stood then). The run history
-- (report_runs) is not here: it lives in the companion file <db>.runs.duckdb (tracker/sql/runs/),
-- so a render needs this file only read-only.

-- How old the newest point of an indicator may be, by its frequency, before a briefing
-- flags it: stale when its period ended more than max_age_months before the briefing date.
CREATE TABLE IF NOT EXISTS freshness_rules (
    frequency      TEXT PRIMARY KEY,
    max_age_months INTEGER NOT NULL
);
INSERT OR REPLACE INTO freshness_rules VALUES
    ('daily', 1), ('monthly', 3), ('quarterly', 6), ('semiannual', 12), ('annual', 24),
    ('irregular', 36);

-- comparison_usd as it stood at `ts`: the same columns and rate rule as the view of
-- migration 001, over observations_as_of(ts). A test keeps the two equal for now().
CREATE OR REPLACE MACRO comparison_usd_as_of(ts) AS TABLE
SELECT c.indicator, c.initiative, n.name AS initiative_name, c.geography, c.period,
       c.period_end, c.source, c.value, c.currency, i.unit, i.measure,
       CASE WHEN c.currency = 'USD' THEN 1.0 ELSE r.usd_per_unit END AS usd_per_unit,
       CASE WHEN c.currency = 'USD' THEN NULL ELSE r.year END AS rate_year,
       CASE WHEN c.currency = 'USD' THEN NULL ELSE r.source END AS rate_source,
       c.value * CASE WHEN c.currency = 'USD' THEN 1.0 ELSE r.usd_per_unit END AS value_usd,
       CASE
           WHEN c.currency = 'USD' THEN 'USD as published'
           WHEN r.usd_per_unit IS NULL THEN 'no ' || c.currency || ' rate for ' || year(c.period_end)
           ELSE c.currency || ' 1 = USD ' || r.usd_per_unit || ' (' || r.year || ' rate, '
                || r.source || ')'
       END AS rate_used,
       c.note
FROM observations_as_of(ts) AS c
JOIN indicators AS i ON i.id = c.indicator AND i.dimension = 'money'
LEFT JOIN initiatives AS n ON n.id = c.initiative
ASOF LEFT JOIN fx_rates AS r
    ON r.currency = c.currency AND year(c.period_end) >= r.year;

-- target_progress as it stood at `ts`, with days_left counted from `today` (the briefing
-- date) instead of current_date. Same columns and rules as the view of migration 001; the
-- semi join keeps only series that have a target before ranking (same result, but the
-- ranking no longer runs over every observation).
CREATE OR REPLACE MACRO target_progress_as_of(ts, today) AS TABLE
WITH newest AS (
    SELECT c.*, i.preferred_source
    FROM observations_as_of(ts) AS c
    JOIN indicators AS i ON i.id = c.indicator
    SEMI JOIN targets AS t
        ON t.indicator = c.indicator AND t.initiative = c.initiative
       AND t.geography = c.geography
    QUALIFY row_number() OVER (
        PARTITION BY c.indicator, c.initiative, c.geography
        ORDER BY c.period_end DESC, (c.source = i.preferred_source) DESC, c.recorded_at DESC
    ) = 1
),
converted AS (
    SELECT n.*,
           CASE
               WHEN n.currency IS NULL OR n.currency = t.currency THEN n.value
               ELSE n.value
                    * (CASE WHEN n.currency = 'USD' THEN 1.0 ELSE rv.usd_per_unit END)
                    / (CASE WHEN t.currency = 'USD' THEN 1.0 ELSE rt.usd_per_unit END)
           END AS value_in_target_currency,
           t.label
    FROM targets AS t
    JOIN newest AS n
        ON n.indicator = t.indicator AND n.initiative = t.initiative
       AND n.geography = t.geography
    ASOF LEFT JOIN fx_rates AS rv
        ON rv.currency = n.currency AND year(n.period_end) >= rv.year
    ASOF LEFT JOIN fx_rates AS rt
        ON rt.currency = t.currency AND year(n.period_end) >= rt.year
)
SELECT t.indicator, t.initiative, t.geography, t.label, t.value AS target_value,
       t.currency AS target_currency, t.unit_as_given AS target_unit, t.due,
       t.baseline_value, t.baseline_period, t.source AS target_source,
       v.period AS latest_period, v.value_in_target_currency AS latest_value,
       v.source AS latest_source,
       v.value_in_target_currency / t.value AS share_achieved,
       t.due - CAST(today AS DATE) AS days_left,
       t.note
FROM targets AS t
LEFT JOIN converted AS v
    ON v.indicator = t.indicator AND v.initiative = t.initiative
   AND v.geography = t.geography AND v.label = t.label;
