-- Migration 003: latest_points, a summary that store.write_batch keeps up to date, so that
-- latest_values and target_progress answer in milliseconds on 10,000,000 observations
-- instead of ranking every observation (seconds). Same view names, columns and rows.

-- Every current vintage at the newest period end of its series (indicator, initiative,
-- geography, source): usually one row per series; two when periods of different length
-- end on the same day (2024 and 2024-H2). Derived data: `store.refresh_latest_points`
-- rebuilds it (tracker init, tracker sql --write do).
CREATE TABLE latest_points AS
SELECT indicator, initiative, geography, period, period_start, period_end, source,
       value, currency, value_as_given, unit_as_given, note, batch, recorded_at
FROM observations
WHERE superseded_at IS NULL
QUALIFY period_end = max(period_end) OVER (
    PARTITION BY indicator, initiative, geography, source
);

-- The most recent period of each series: as in migration 001, over latest_points (the
-- newest period of a series is always among its rows there).
CREATE OR REPLACE VIEW latest_values AS
SELECT c.indicator, c.initiative, c.geography, c.source, c.period, c.period_start,
       c.period_end, c.value, c.currency, i.unit, i.measure, c.note, c.recorded_at
FROM latest_points AS c
JOIN indicators AS i ON i.id = c.indicator
QUALIFY row_number() OVER (
    PARTITION BY c.indicator, c.initiative, c.geography, c.source
    ORDER BY c.period_end DESC, c.period_start ASC
) = 1;

-- Progress toward each target: as in migration 001. The newest value of an (indicator,
-- initiative, geography) has the newest period end of all its series, so it is among
-- their latest_points rows, with every row it is ranked against.
CREATE OR REPLACE VIEW target_progress AS
WITH newest AS (
    SELECT c.*, i.preferred_source
    FROM latest_points AS c
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
       t.due - current_date AS days_left,
       t.note
FROM targets AS t
LEFT JOIN converted AS v
    ON v.indicator = t.indicator AND v.initiative = t.initiative
   AND v.geography = t.geography AND v.label = t.label;
