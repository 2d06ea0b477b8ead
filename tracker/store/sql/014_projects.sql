-- Project records of AidData's Global Chinese Development Finance dataset (GCDF 3.0), as
-- `tracker import aiddata` reads them: one row per AidData Record ID and vintage, the
-- published columns that matter here under readable names (the published header is in each
-- column's comment). A revised record gets a new vintage and the old one `superseded_at`,
-- as observations do; an unchanged record writes nothing. Derived indicators (an
-- indicator file's [derived] table) are computed from `projects_current` at each import.
CREATE TABLE IF NOT EXISTS projects (
    record_id BIGINT NOT NULL,                 -- AidData Record ID
    recommended_for_aggregates BOOLEAN,        -- Recommended For Aggregates (Yes/No)
    title VARCHAR,                             -- Title
    recipient VARCHAR,                         -- Recipient
    recipient_iso3 VARCHAR,                    -- Recipient ISO-3
    recipient_region VARCHAR,                  -- Recipient Region
    commitment_year INTEGER,                   -- Commitment Year
    commitment_date DATE,                      -- Commitment Date (MM/DD/YYYY)
    status VARCHAR,                            -- Status
    intent VARCHAR,                            -- Intent
    flow_type VARCHAR,                         -- Flow Type
    flow_class VARCHAR,                        -- Flow Class
    sector_code INTEGER,                       -- Sector Code
    sector_name VARCHAR,                       -- Sector Name
    infrastructure BOOLEAN,                    -- Infrastructure (Yes; empty = not flagged)
    amount_original DOUBLE,                    -- Amount (Original Currency)
    original_currency VARCHAR,                 -- Original Currency
    amount_constant_usd_2021 DOUBLE,           -- Amount (Constant USD 2021)
    amount_nominal_usd DOUBLE,                 -- Amount (Nominal USD)
    funding_agencies VARCHAR[],                -- Funding Agencies ('|'-separated there)
    source_urls VARCHAR[],                     -- Source URLs ('|'-separated there)
    source VARCHAR NOT NULL,                   -- the dataset release (a `sources` id)
    file VARCHAR NOT NULL,                     -- the file and line the vintage was read from
    line INTEGER NOT NULL,
    digest VARCHAR NOT NULL,                   -- md5 of the columns above, to tell revisions
    batch BIGINT,                              -- the `batches` row of the import
    recorded_at TIMESTAMP NOT NULL,
    superseded_at TIMESTAMP
);

-- The latest vintage of each record.
CREATE OR REPLACE VIEW projects_current AS
SELECT * EXCLUDE (digest, superseded_at) FROM projects WHERE superseded_at IS NULL;
