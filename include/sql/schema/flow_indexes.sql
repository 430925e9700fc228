-- Indexes added after the first release, created where missing at the start of every run (after the columns
-- they cover; flow_ddl.sql holds the first release's).
-- The kid check of every sync plan and the rekey's counts (phone_enc_kid is computed from phone_cipher).
CREATE INDEX IF NOT EXISTS idx_enc_kid ON leads_flow (phone_enc_kid);
-- The hard-delete watch reads live ids through it, index-only.
CREATE INDEX IF NOT EXISTS idx_live ON leads_flow (is_deleted, lead_id);
-- One reject per lead and source version, not one per run: a rerun replaces it (reject_insert upserts).
CREATE UNIQUE INDEX IF NOT EXISTS uq_reject_version ON leads_flow_reject (lead_id, source_version);
-- Erasure by phone and the kid check find rejects by blind index, without decrypting the table.
CREATE INDEX IF NOT EXISTS idx_reject_bidx ON leads_flow_reject (phone_bidx_kid, phone_bidx);
