-- Migration 015: every version of an exchange rate `tracker import` wrote (the ECB's EXR
-- series, `tracker import sdmx`). `fx_rates` keeps one current row per (currency, year), the
-- one the views convert with; this table keeps each rate an import wrote, with its batch
-- (a `batches` row whose files are the publisher's files), and the row it replaced.
CREATE TABLE IF NOT EXISTS fx_rate_vintages (
    currency      TEXT NOT NULL,         -- ISO 4217 code
    year          INTEGER NOT NULL,
    usd_per_unit  DOUBLE NOT NULL,       -- US dollars per one unit of `currency`
    source        TEXT NOT NULL,
    note          TEXT,                  -- which ECB figure: 'ECB annual average', 'mean of 12 monthly averages'
    batch         BIGINT,                -- the import that wrote it; NULL: the row an import replaced,
                                         -- written before it by `tracker init` or `tracker sql --write`
    recorded_at   TIMESTAMP NOT NULL,    -- UTC
    superseded_at TIMESTAMP              -- UTC; NULL while this is the rate in fx_rates
);
