-- Migration 010: exact figures (issue 12, item 10). A value is stored as entered and scaled
-- to its indicator's multiplier, in DECIMAL(38, 12): 26 digits before the point, 12 after.
-- A DOUBLE held '250,5' EUR bn as 250.50000000000003 and summed 121.8 + 49.282 to
-- 171.08200000000002; a DECIMAL holds 250.5 and sums to 171.082. Ingest refuses a value that
-- needs more digits (tracker/ingest/values.py), never rounding it.
--
-- Existing values are rounded to 12 decimals: that removes the binary noise of the old
-- scaling (250.50000000000003 becomes 250.5) and nothing else. A value the rounding would
-- change by more than such noise (it had more than 12 significant decimals, or is too large)
-- stops the migration, naming the first such point: nothing is rounded silently.
SELECT CASE WHEN count(*) > 0 THEN error(
    'migration 010 cannot store ' || count(*) || ' value(s) exactly in DECIMAL(38, 12), '
    || 'e.g. ' || min(indicator || ', ' || initiative || ', ' || geography || ', ' || period
    || ', ' || source || ': ' || CAST(value AS VARCHAR))
    || '; they need more than 12 decimals or 26 digits before the point. Correct them with '
    || 'the earlier tracker (tracker sql --write) and run tracker init again'
) END
FROM observations
WHERE abs(value) >= 1e26
   OR abs(value - round(value, 12)) > 1e-15 * abs(value);

ALTER TABLE observations ALTER COLUMN value SET DATA TYPE DECIMAL(38, 12)
    USING round(value, 12);
ALTER TABLE latest_points ALTER COLUMN value SET DATA TYPE DECIMAL(38, 12)
    USING round(value, 12);

-- Every view that shows a value is re-created from its newest text (008, 009) so that its
-- columns are bound to the new type; the texts are unchanged except where a figure is
-- converted by an exchange rate. Such a product is not exact by nature (a rate has as many
-- decimals as its publisher gives), so a converted figure is rounded to 6 decimals of the
-- indicator's unit (USD 1,000 for 'USD bn') and typed DECIMAL(38, 6): `value_usd` of
-- comparison_usd, and target_progress's `latest_value` when the target is in another currency.

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

-- A converted figure, rounded as stated above (`value` in its currency, `rate` USD per unit).
CREATE OR REPLACE MACRO converted_value(value, rate) AS
CAST(round(CAST(value AS DOUBLE) * rate, 6) AS DECIMAL(38, 6));

CREATE OR REPLACE MACRO comparison_usd_as_of(ts) AS TABLE
SELECT c.indicator, c.initiative, n.name AS initiative_name, c.geography, c.period,
       c.period_end, c.source, c.value, c.qualifier, c.currency, i.unit, i.measure,
       CASE WHEN c.currency = 'USD' THEN 1.0 ELSE r.usd_per_unit END AS usd_per_unit,
       CASE WHEN c.currency = 'USD' THEN NULL ELSE r.year END AS rate_year,
       CASE WHEN c.currency = 'USD' THEN NULL ELSE r.source END AS rate_source,
       CASE WHEN c.currency = 'USD' THEN CAST(c.value AS DECIMAL(38, 12))
            ELSE converted_value(c.value, r.usd_per_unit) END AS value_usd,
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
               WHEN n.currency IS NULL OR n.currency = t.currency
                   THEN CAST(n.value AS DECIMAL(38, 12))
               ELSE converted_value(
                   n.value,
                   (CASE WHEN n.currency = 'USD' THEN 1.0 ELSE rv.usd_per_unit END)
                   / (CASE WHEN t.currency = 'USD' THEN 1.0 ELSE rt.usd_per_unit END))
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
       CAST(v.value_in_target_currency AS DOUBLE) / t.value AS share_achieved,
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

-- As in 009 (the spread is a ratio, not an entered value: DOUBLE as before).
CREATE OR REPLACE VIEW headline_values AS
WITH ranked AS (
    SELECT l.*, s.kind AS source_kind, s.published AS source_published,
           headline_order(l.source, i.preferred_source, s.kind, s.published) AS rank_key
    FROM latest_values AS l
    JOIN indicators AS i ON i.id = l.indicator
    LEFT JOIN sources AS s ON s.id = l.source
),
compared AS (
    SELECT r.*,
           first_value(r.value) OVER by_rank AS headline_value,
           first_value(r.currency) OVER by_rank AS headline_currency,
           row_number() OVER by_rank AS headline_rank
    FROM ranked AS r
    WINDOW by_rank AS (
        PARTITION BY r.indicator, r.initiative, r.geography, r.period ORDER BY r.rank_key
    )
)
SELECT c.indicator, c.initiative, c.geography, c.period, c.period_start, c.period_end,
       c.value, c.qualifier, c.currency, c.unit, c.measure, c.source, c.source_kind,
       c.source_published, c.note, c.recorded_at, c.context,
       count(*) OVER same_point AS source_count,
       list(c.source ORDER BY c.rank_key) OVER same_point AS sources,
       -- a gap only between figures in one currency: EUR 179 bn and USD 190 bn are not 6 % apart
       max(CASE WHEN c.headline_rank > 1
                     AND c.currency IS NOT DISTINCT FROM c.headline_currency
                     AND c.headline_value <> 0
                THEN CAST(abs(c.value - c.headline_value) AS DOUBLE)
                     / CAST(abs(c.headline_value) AS DOUBLE) END
       ) OVER same_point AS spread
FROM compared AS c
WINDOW same_point AS (PARTITION BY c.indicator, c.initiative, c.geography, c.period)
QUALIFY c.headline_rank = 1;
