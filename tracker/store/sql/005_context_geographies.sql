-- Migration 005: aggregates of countries (World Bank regions and income groups, UN groups
-- such as the least developed countries) as geographies; the source of every shipped
-- geography and membership row; context indicators (GDP, population), which belong to no
-- programme.

-- A new kind, 'aggregate': a group of countries that a publisher defines (not a UN M49
-- region). DuckDB cannot change a CHECK constraint in place, so the table is rebuilt; no
-- view reads it. `source` is the sources.id the row comes from.
CREATE TABLE geographies_005 (
    id        TEXT PRIMARY KEY,      -- ISO 3166 alpha-3, WLD, slugs for regions, the
                                     -- publisher's code for World Bank aggregates (HIC, SSF)
    name      TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('world', 'region', 'country', 'aggregate')),
    iso2      TEXT,
    m49       TEXT,
    region    TEXT,
    subregion TEXT,
    source    TEXT                   -- sources.id; NULL only for rows added by hand
);
INSERT INTO geographies_005 SELECT *, NULL FROM geographies;
DROP TABLE geographies;
ALTER TABLE geographies_005 RENAME TO geographies;

ALTER TABLE geography_members ADD COLUMN IF NOT EXISTS source TEXT;

-- An indicator of no programme: its rows carry the reserved initiative CONTEXT.
ALTER TABLE indicators ADD COLUMN IF NOT EXISTS context BOOLEAN DEFAULT false;

-- The views say which figures are context, so no query need guess from the initiative.
CREATE OR REPLACE VIEW latest_values AS
SELECT c.indicator, c.initiative, c.geography, c.source, c.period, c.period_start,
       c.period_end, c.value, c.currency, i.unit, i.measure, c.note, c.recorded_at,
       i.context
FROM latest_points AS c
JOIN indicators AS i ON i.id = c.indicator
QUALIFY row_number() OVER (
    PARTITION BY c.indicator, c.initiative, c.geography, c.source
    ORDER BY c.period_end DESC, c.period_start ASC
) = 1;

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
       c.note,
       i.context
FROM observations_as_of(ts) AS c
JOIN indicators AS i ON i.id = c.indicator AND i.dimension = 'money'
LEFT JOIN initiatives AS n ON n.id = c.initiative
ASOF LEFT JOIN fx_rates AS r
    ON r.currency = c.currency AND year(c.period_end) >= r.year;

CREATE OR REPLACE VIEW comparison_usd AS
SELECT * FROM comparison_usd_as_of(TIMESTAMP 'infinity');

-- Forget the digest of the definitions last synced, so the next sync fills `context`.
DELETE FROM meta WHERE key = 'definitions_sha256';
