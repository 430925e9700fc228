-- The fingerprint version each stored content_hash is computed with (docs/interfaces.md, "Fingerprint"): one row
-- per version whose one-off recompute of leads_flow.content_hash finished (io/schema.py migrate_fingerprint).
CREATE TABLE IF NOT EXISTS leads_flow_fingerprint (
  version INTEGER NOT NULL PRIMARY KEY,
  rows_recomputed INTEGER NOT NULL,
  migrated_at TEXT NOT NULL
);
