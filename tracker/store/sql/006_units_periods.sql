-- Migration 006: units beyond money, power and counts, and fiscal years.
-- `dimension` now also holds length, area, volume, mass, energy, share (per cent),
-- percentage points, and the counted nouns pint is told of (deals, projects, people, TEU);
-- `base_unit` that dimension's base (m, t, %, pp, ...). An indicator whose files give fiscal
-- years (FY2025) declares its fiscal year: the month it starts in, and whether FY2025 names
-- the calendar year it starts in or ends in; NULL for an indicator without one.
-- (DuckDB cannot add a column with a CHECK; the definition schema checks both values.)
ALTER TABLE indicators ADD COLUMN IF NOT EXISTS fiscal_year_start_month INTEGER;  -- 1-12
ALTER TABLE indicators ADD COLUMN IF NOT EXISTS fiscal_year_named_by TEXT;  -- start, end

-- Forget the digest of the definitions last synced, so the next sync fills the new columns.
DELETE FROM meta WHERE key = 'definitions_sha256';
