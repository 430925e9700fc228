-- Erasure tables (issue #12); run by leads_flow.io.schema.ensure_flow_schema.
-- SQLite variant of erasure_ddl.sql: one row per erased lead, never the phone.
CREATE TABLE IF NOT EXISTS leads_flow_erasure (
  lead_id INTEGER NOT NULL PRIMARY KEY,
  erased_at TEXT NOT NULL,
  requested_by TEXT NOT NULL
);
