-- Erasure tables (issue #12); run by leads_flow.io.schema.ensure_flow_schema.
-- One row per erased lead: which lead, when, and who or which run asked (never the phone or any other
-- value of the lead). Read by erasure_scrub_stage.sql / erasure_clear_rejects.sql so that no later sync,
-- rerun, backfill or repair brings the lead's data back.
CREATE TABLE IF NOT EXISTS leads_flow_erasure (
  lead_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  erased_at DATETIME NOT NULL,
  requested_by VARCHAR(250) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
