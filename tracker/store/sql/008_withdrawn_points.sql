-- Migration 008: a point can be withdrawn (issue 12, `tracker withdraw`). A withdrawal is a
-- vintage like a revision: a new row of the point (its last values, `withdrawn` true and the
-- reason), recorded in its own batch, and the vintage it replaces gets `superseded_at`. So
-- history is kept, `observations_as_of` a moment before the withdrawal still shows the point,
-- and loading the point again later supersedes the withdrawal and makes it current again.
-- Every view and macro that shows current values skips a withdrawn vintage; latest_points
-- never holds one (store/batches.py keeps it so).
ALTER TABLE observations ADD COLUMN IF NOT EXISTS withdrawn BOOLEAN DEFAULT false;
ALTER TABLE observations ADD COLUMN IF NOT EXISTS withdrawn_reason TEXT;  -- as given
-- How many points a batch withdrew (`tracker withdraw`: 1; an ingest: 0).
ALTER TABLE batches ADD COLUMN IF NOT EXISTS rows_withdrawn BIGINT DEFAULT 0;

-- `withdrawn IS NOT TRUE`: a row written without the column (NULL) is a plain vintage.
CREATE OR REPLACE VIEW observations_current AS
SELECT indicator, initiative, geography, period, period_start, period_end, source,
       value, qualifier, currency, value_as_given, unit_as_given, note, batch, recorded_at
FROM observations
WHERE superseded_at IS NULL AND withdrawn IS NOT TRUE;

CREATE OR REPLACE MACRO observations_as_of(ts) AS TABLE
SELECT indicator, initiative, geography, period, period_start, period_end, source,
       value, qualifier, currency, value_as_given, unit_as_given, note, batch, recorded_at
FROM observations
WHERE recorded_at <= ts AND (superseded_at IS NULL OR superseded_at > ts)
  AND withdrawn IS NOT TRUE;

-- As in 007 (latest_points holds no withdrawn vintage).
CREATE OR REPLACE VIEW latest_values AS
SELECT c.indicator, c.initiative, c.geography, c.source, c.period, c.period_start,
       c.period_end, c.value, c.qualifier, c.currency, i.unit, i.measure, c.note, c.recorded_at,
       i.context
FROM latest_points AS c
JOIN indicators AS i ON i.id = c.indicator
QUALIFY row_number() OVER (
    PARTITION BY c.indicator, c.initiative, c.geography, c.source
    ORDER BY c.period_end DESC, c.period_start ASC
) = 1;

-- As in 007: reads observations_as_of, which skips withdrawn vintages.
CREATE OR REPLACE MACRO comparison_usd_as_of(ts) AS TABLE
SELECT c.indicator, c.initiative, n.name AS initiative_name, c.geography, c.period,
       c.period_end, c.source, c.value, c.qualifier, c.currency, i.unit, i.measure,
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
       c.note,
       i.context
FROM observations_as_of(ts) AS c
JOIN indicators AS i ON i.id = c.indicator AND i.dimension = 'money'
LEFT JOIN initiatives AS n ON n.id = c.initiative
ASOF LEFT JOIN fx_rates AS r
    ON r.currency = c.currency AND year(c.period_end) >= r.year;

-- As in 004, the past skipping withdrawn vintages.
CREATE OR REPLACE MACRO target_progress_as_of(ts, today) AS TABLE
WITH newest AS (
    SELECT c.*, i.preferred_source
    FROM (
        -- The current data comes from latest_points (fast); the past from the vintages.
        -- The branch whose condition is false is pruned by the planner.
        SELECT indicator, initiative, geography, period, period_end, source, value, qualifier,
               currency, recorded_at
        FROM latest_points WHERE ts = TIMESTAMP 'infinity'
        UNION ALL
        SELECT indicator, initiative, geography, period, period_end, source, value, qualifier,
               currency, recorded_at
        FROM observations
        WHERE ts <> TIMESTAMP 'infinity' AND recorded_at <= ts
          AND (superseded_at IS NULL OR superseded_at > ts)
          AND withdrawn IS NOT TRUE
    ) AS c
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
       v.qualifier AS latest_qualifier, v.source AS latest_source,
       v.value_in_target_currency / t.value AS share_achieved,
       t.due - CAST(today AS DATE) AS days_left,
       t.note
FROM targets AS t
LEFT JOIN converted AS v
    ON v.indicator = t.indicator AND v.initiative = t.initiative
   AND v.geography = t.geography AND v.label = t.label;

CREATE OR REPLACE VIEW comparison_usd AS
SELECT * FROM comparison_usd_as_of(TIMESTAMP 'infinity');

CREATE OR REPLACE VIEW target_progress AS
SELECT * FROM target_progress_as_of(TIMESTAMP 'infinity', current_date);
