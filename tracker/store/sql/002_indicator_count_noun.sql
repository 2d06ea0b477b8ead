-- Migration 002: what an indicator with unit 'count' counts, as readers see it after the
-- number ('deals' in '1,308 deals'); NULL where the count has no noun of its own, and for
-- every other unit. Set by `count_noun` in indicators/<id>.toml.
ALTER TABLE indicators ADD COLUMN IF NOT EXISTS count_noun TEXT;

-- Forget the digest of the definitions last synced, so the next sync (`tracker init`, or any
-- ingest) fills the new column from the definition files even when none of them changed.
DELETE FROM meta WHERE key = 'definitions_sha256';
