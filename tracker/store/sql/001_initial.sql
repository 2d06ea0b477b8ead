-- Migration 001: the tables and views users write SQL against (documented in README.md).
-- Foreign keys are checked by tracker itself, not declared: DuckDB cannot update a row
-- that a foreign key references, and reference tables are re-synced on every `tracker init`.

-- Key-value facts about this database, e.g. the hash of the indicator definitions synced.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE initiatives (
    id        TEXT PRIMARY KEY,      -- BRI, PGII, GG, ...
    name      TEXT NOT NULL,
    sponsor   TEXT NOT NULL,
    launched  DATE,
    measures  TEXT,                  -- what the programme's own figures count
    colour    TEXT                   -- the one colour every chart uses for it
);

CREATE TABLE geographies (
    id        TEXT PRIMARY KEY,      -- ISO 3166 alpha-3 for countries, WLD, slugs for regions
    name      TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('world', 'region', 'country')),
    iso2      TEXT,
    m49       TEXT,
    region    TEXT,
    subregion TEXT
);

CREATE TABLE geography_members (
    region    TEXT NOT NULL,         -- geographies.id of a region
    member    TEXT NOT NULL,         -- geographies.id of a country
    PRIMARY KEY (region, member)
);

CREATE TABLE sources (
    id        TEXT PRIMARY KEY,
    title     TEXT NOT NULL,
    publisher TEXT,
    url       TEXT,
    published DATE,
    accessed  DATE,
    kind      TEXT NOT NULL CHECK (kind IN ('primary', 'secondary', 'synthetic', 'unspecified')),
    note      TEXT
);

CREATE TABLE indicators (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    description        TEXT NOT NULL,
    unit               TEXT NOT NULL,  -- as readers see it: 'USD bn', 'GW', 'count'
    dimension          TEXT NOT NULL,  -- money, power, count
    base_unit          TEXT NOT NULL,  -- USD, W, count (money rows may be in another currency)
    multiplier         DOUBLE NOT NULL,-- 1e9 for 'USD bn'
    measure            TEXT NOT NULL CHECK (measure IN ('flow', 'level', 'cumulative')),
    base_date          DATE,
    base_note          TEXT,
    frequency          TEXT NOT NULL,
    category           TEXT NOT NULL,
    preferred_source   TEXT,
    default_initiative TEXT,
    definition_file    TEXT,
    definition_sha256  TEXT NOT NULL,
    synced_at          TIMESTAMP NOT NULL
);

CREATE TABLE targets (
    indicator       TEXT NOT NULL,
    initiative      TEXT NOT NULL,
    geography       TEXT NOT NULL,
    label           TEXT NOT NULL,
    value           DOUBLE NOT NULL,   -- in the indicator's multiplier ...
    currency        TEXT,              -- ... and, for money, in this currency
    unit_as_given   TEXT NOT NULL,
    due             DATE NOT NULL,
    baseline_value  DOUBLE,
    baseline_period TEXT,
    source          TEXT NOT NULL,
    note            TEXT,
    PRIMARY KEY (indicator, initiative, geography, label)
);

CREATE SEQUENCE batch_ids START 1;

CREATE TABLE batches (
    id             BIGINT PRIMARY KEY DEFAULT nextval('batch_ids'),
    files          TEXT NOT NULL,      -- file names, '; '-separated
    sha256         TEXT NOT NULL,      -- of each file, '; '-separated, same order
    rows_read      BIGINT NOT NULL,
    rows_new       BIGINT NOT NULL,
    rows_revised   BIGINT NOT NULL,
    rows_unchanged BIGINT NOT NULL,
    recorded_at    TIMESTAMP NOT NULL  -- UTC; equals observations.recorded_at of its rows
);

-- Every vintage ever loaded. A point's key is
-- (indicator, initiative, geography, period, source); a revision adds a row and sets
-- superseded_at on the row it replaces, so nothing is ever deleted.
CREATE TABLE observations (
    indicator      TEXT NOT NULL,
    initiative     TEXT NOT NULL,
    geography      TEXT NOT NULL,
    period         TEXT NOT NULL,       -- 2024, 2024-H1, 2024-Q3, 2024-07, 2024-07-15
    period_start   DATE NOT NULL,
    period_end     DATE NOT NULL,
    source         TEXT NOT NULL,
    value          DOUBLE NOT NULL,     -- in the indicator's unit and multiplier
    currency       TEXT,                -- money: the currency `value` is in (kept as given)
    value_as_given TEXT NOT NULL USING COMPRESSION zstd,  -- mostly distinct: zstd is cheaper to write than the default dictionary+FSST
    unit_as_given  TEXT NOT NULL,
    note           TEXT,
    batch          BIGINT NOT NULL,
    recorded_at    TIMESTAMP NOT NULL,  -- UTC
    superseded_at  TIMESTAMP            -- UTC; NULL while this is the current vintage
);

CREATE TABLE fx_rates (
    currency     TEXT NOT NULL,         -- ISO 4217 code
    year         INTEGER NOT NULL,
    usd_per_unit DOUBLE NOT NULL,       -- US dollars per one unit of `currency`
    source       TEXT NOT NULL,
    note         TEXT,
    PRIMARY KEY (currency, year)
);

-- How old the newest point of an indicator may be, by its frequency, before a briefing
-- flags it: stale when its period ended more than max_age_months before the briefing date.
CREATE TABLE freshness_rules (
    frequency      TEXT PRIMARY KEY,
    max_age_months INTEGER NOT NULL
);
INSERT OR REPLACE INTO freshness_rules VALUES
    ('daily', 1), ('monthly', 3), ('quarterly', 6), ('semiannual', 12), ('annual', 24),
    ('irregular', 36);

-- The latest vintage of each series point.
CREATE VIEW observations_current AS
SELECT indicator, initiative, geography, period, period_start, period_end, source,
       value, currency, value_as_given, unit_as_given, note, batch, recorded_at
FROM observations
WHERE superseded_at IS NULL;

-- The data as it stood at a moment: SELECT * FROM observations_as_of(TIMESTAMP '2025-01-01').
CREATE MACRO observations_as_of(ts) AS TABLE
SELECT indicator, initiative, geography, period, period_start, period_end, source,
       value, currency, value_as_given, unit_as_given, note, batch, recorded_at
FROM observations
WHERE recorded_at <= ts AND (superseded_at IS NULL OR superseded_at > ts);

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

-- The most recent period of each series (indicator, initiative, geography, source); for two
-- periods ending on the same day (2024 and 2024-H2) the longer one wins.
CREATE VIEW latest_values AS
SELECT c.indicator, c.initiative, c.geography, c.source, c.period, c.period_start,
       c.period_end, c.value, c.currency, i.unit, i.measure, c.note, c.recorded_at
FROM latest_points AS c
JOIN indicators AS i ON i.id = c.indicator
QUALIFY row_number() OVER (
    PARTITION BY c.indicator, c.initiative, c.geography, c.source
    ORDER BY c.period_end DESC, c.period_start ASC
) = 1;

-- Money figures on one USD basis, as they stood at `ts`. The rate is the fx_rates row of the
-- period's year, or of the latest earlier year when that year has none (rate_year says which).
CREATE MACRO comparison_usd_as_of(ts) AS TABLE
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

-- Progress toward each target as it stood at `ts`, days_left counted from `today`: the
-- newest value of the same indicator, initiative and geography (preferred source first on
-- ties), in the target's currency. Only series that have a target are ranked.
CREATE MACRO target_progress_as_of(ts, today) AS TABLE
WITH newest AS (
    SELECT c.*, i.preferred_source
    FROM (
        -- The current data comes from latest_points (fast); the past from the vintages.
        -- The branch whose condition is false is pruned by the planner.
        SELECT * FROM latest_points WHERE ts = TIMESTAMP 'infinity'
        UNION ALL
        SELECT * EXCLUDE (superseded_at) FROM observations
        WHERE ts <> TIMESTAMP 'infinity' AND recorded_at <= ts
          AND (superseded_at IS NULL OR superseded_at > ts)
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
       v.source AS latest_source,
       v.value_in_target_currency / t.value AS share_achieved,
       t.due - CAST(today AS DATE) AS days_left,
       t.note
FROM targets AS t
LEFT JOIN converted AS v
    ON v.indicator = t.indicator AND v.initiative = t.initiative
   AND v.geography = t.geography AND v.label = t.label;

-- The current forms of the macros above: 'infinity' means every vintage recorded so far.
CREATE VIEW comparison_usd AS
SELECT * FROM comparison_usd_as_of(TIMESTAMP 'infinity');

CREATE VIEW target_progress AS
SELECT * FROM target_progress_as_of(TIMESTAMP 'infinity', current_date);
