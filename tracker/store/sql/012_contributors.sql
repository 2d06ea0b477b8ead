-- Migration 012: like with like (issue 14). A figure may count one contributor of a
-- programme (the US's part of PGII) rather than the whole programme, and a target says which
-- contributor it counts: `contributor` is a geographies.id (a country, e.g. USA), NULL for the
-- programme as a whole (all its partners: the G7 for PGII, Team Europe for Global Gateway).
-- A share achieved or a projection sets a target only against figures of its own
-- contributor; the US's USD 60 bn is never a share of the G7's USD 600 bn.
-- The contributor is part of the figure, like its qualifier (a new contributor for the same
-- key is a revision), so it sits beside the value in observations and latest_points, and
-- every view that shows points shows it. Each view below restates its newest definition
-- (008; headline_values and headline_order 009; exact values and converted_value 010) with
-- the column added.
ALTER TABLE observations ADD COLUMN IF NOT EXISTS contributor TEXT;
ALTER TABLE latest_points ADD COLUMN IF NOT EXISTS contributor TEXT;
ALTER TABLE targets ADD COLUMN IF NOT EXISTS contributor TEXT;

-- Sources that ingest registered from a citation used to note the file's path as given
-- (`registered by tracker ingest from ../csv/x.csv`), which reached briefings: keep the
-- file's base name only.
UPDATE sources
SET note = 'registered by tracker ingest from '
           || regexp_replace(substr(note, length('registered by tracker ingest from ') + 1),
                             '^.*[/\\]', '')
WHERE note LIKE 'registered by tracker ingest from %';

-- As in 010, with the contributor.
CREATE OR REPLACE VIEW observations_current AS
SELECT indicator, initiative, geography, period, period_start, period_end, source,
       value, qualifier, currency, value_as_given, unit_as_given, note, batch, recorded_at,
       contributor
FROM observations
WHERE superseded_at IS NULL AND withdrawn IS NOT TRUE;

CREATE OR REPLACE MACRO observations_as_of(ts) AS TABLE
SELECT indicator, initiative, geography, period, period_start, period_end, source,
       value, qualifier, currency, value_as_given, unit_as_given, note, batch, recorded_at,
       contributor
FROM observations
WHERE recorded_at <= ts AND (superseded_at IS NULL OR superseded_at > ts)
  AND withdrawn IS NOT TRUE;

CREATE OR REPLACE VIEW latest_values AS
SELECT c.indicator, c.initiative, c.geography, c.source, c.period, c.period_start,
       c.period_end, c.value, c.qualifier, c.currency, i.unit, i.measure, c.note, c.recorded_at,
       i.context, c.contributor
FROM latest_points AS c
JOIN indicators AS i ON i.id = c.indicator
QUALIFY row_number() OVER (
    PARTITION BY c.indicator, c.initiative, c.geography, c.source
    ORDER BY c.period_end DESC, c.period_start ASC
) = 1;

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
       i.context,
       c.contributor
FROM observations_as_of(ts) AS c
JOIN indicators AS i ON i.id = c.indicator AND i.dimension = 'money'
LEFT JOIN initiatives AS n ON n.id = c.initiative
ASOF LEFT JOIN fx_rates AS r
    ON r.currency = c.currency AND year(c.period_end) >= r.year;

-- As in 010, counting only figures of the target's contributor: the newest value is ranked
-- per contributor, and a target takes the one of its own (NULL matches NULL: the whole
-- programme). `contributor` is the target's; `other_figures` counts the newest figures of
-- the same series that count another contributor and so were left out (a briefing says
-- "no comparable figure yet" when it has such figures and none of its own).
CREATE OR REPLACE MACRO target_progress_as_of(ts, today) AS TABLE
WITH newest AS (
    SELECT c.*, i.preferred_source
    FROM (
        -- The current data comes from latest_points (fast); the past from the vintages.
        -- The branch whose condition is false is pruned by the planner.
        SELECT indicator, initiative, geography, period, period_end, source, value, qualifier,
               currency, recorded_at, contributor
        FROM latest_points WHERE ts = TIMESTAMP 'infinity'
        UNION ALL
        SELECT indicator, initiative, geography, period, period_end, source, value, qualifier,
               currency, recorded_at, contributor
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
        PARTITION BY c.indicator, c.initiative, c.geography, c.contributor
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
       AND n.geography = t.geography AND n.contributor IS NOT DISTINCT FROM t.contributor
    ASOF LEFT JOIN fx_rates AS rv
        ON rv.currency = n.currency AND year(n.period_end) >= rv.year
    ASOF LEFT JOIN fx_rates AS rt
        ON rt.currency = t.currency AND year(n.period_end) >= rt.year
),
others AS (
    SELECT t.indicator, t.initiative, t.geography, t.label, count(*) AS other_figures
    FROM targets AS t
    JOIN newest AS n
        ON n.indicator = t.indicator AND n.initiative = t.initiative
       AND n.geography = t.geography AND n.contributor IS DISTINCT FROM t.contributor
    GROUP BY ALL
)
SELECT t.indicator, t.initiative, t.geography, t.label, t.value AS target_value,
       t.currency AS target_currency, t.unit_as_given AS target_unit, t.due,
       t.baseline_value, t.baseline_period, t.source AS target_source,
       v.period AS latest_period, v.value_in_target_currency AS latest_value,
       v.qualifier AS latest_qualifier, v.source AS latest_source,
       CAST(v.value_in_target_currency AS DOUBLE) / t.value AS share_achieved,
       t.due - CAST(today AS DATE) AS days_left,
       t.note,
       t.contributor,
       coalesce(o.other_figures, 0) AS other_figures
FROM targets AS t
LEFT JOIN converted AS v
    ON v.indicator = t.indicator AND v.initiative = t.initiative
   AND v.geography = t.geography AND v.label = t.label
LEFT JOIN others AS o
    ON o.indicator = t.indicator AND o.initiative = t.initiative
   AND o.geography = t.geography AND o.label = t.label;

CREATE OR REPLACE VIEW comparison_usd AS
SELECT * FROM comparison_usd_as_of(TIMESTAMP 'infinity');

CREATE OR REPLACE VIEW target_progress AS
SELECT * FROM target_progress_as_of(TIMESTAMP 'infinity', current_date);

-- As in 010, with the contributor: figures of one point that count different contributors
-- are different figures, so each contributor has its own headline and spread.
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
        PARTITION BY r.indicator, r.initiative, r.geography, r.period, r.contributor
        ORDER BY r.rank_key
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
       ) OVER same_point AS spread,
       c.contributor
FROM compared AS c
WINDOW same_point AS (
    PARTITION BY c.indicator, c.initiative, c.geography, c.period, c.contributor
)
QUALIFY c.headline_rank = 1;

-- Forget the digest of the definitions last synced, so the next sync fills
-- targets.contributor from the definition files.
DELETE FROM meta WHERE key = 'definitions_sha256';
