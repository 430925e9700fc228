-- The fingerprint version each stored content_hash is computed with (docs/interfaces.md, "Fingerprint"): one row
-- per version whose one-off recompute of leads_flow.content_hash finished (io/schema.py migrate_fingerprint).
CREATE TABLE IF NOT EXISTS leads_flow_fingerprint (
  version INT NOT NULL PRIMARY KEY,
  rows_recomputed BIGINT NOT NULL,
  migrated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
