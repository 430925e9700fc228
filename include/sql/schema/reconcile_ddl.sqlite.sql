-- SQLite variant of the reconcile DAG's own tables (see reconcile_ddl.sql).
CREATE TABLE IF NOT EXISTS leads_flow_drift (
  reconcile_run_id TEXT NOT NULL,
  window_start TEXT NOT NULL,
  window_end TEXT NOT NULL,
  lead_id INTEGER NOT NULL,
  drift_class TEXT NOT NULL,
  next_action TEXT NOT NULL,
  detail TEXT NULL,
  legacy_updated_at TEXT NULL,
  flow_updated_at TEXT NULL,
  detected_at TEXT NOT NULL,
  repair_etl_run_id TEXT NULL,
  repaired_at TEXT NULL,
  repair_result TEXT NULL,
  PRIMARY KEY (reconcile_run_id, window_start, lead_id)
);
CREATE INDEX IF NOT EXISTS idx_drift_lead ON leads_flow_drift (lead_id);
CREATE INDEX IF NOT EXISTS idx_drift_class ON leads_flow_drift (drift_class, detected_at);

CREATE TABLE IF NOT EXISTS leads_flow_reconcile_run (
  reconcile_run_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  window_start TEXT NOT NULL,
  window_end TEXT NOT NULL,
  dag_id TEXT NULL,
  dag_run_id TEXT NULL,
  status TEXT NOT NULL,
  windows INTEGER NULL,
  legacy_rows INTEGER NULL,
  flow_rows INTEGER NULL,
  expected_rows INTEGER NULL,
  matched INTEGER NULL,
  missing_in_flow INTEGER NULL,
  missing_in_legacy INTEGER NULL,
  field_drift INTEGER NULL,
  phone_drift INTEGER NULL,
  stale_in_flow INTEGER NULL,
  flow_ahead INTEGER NULL,
  rejected_by_rule INTEGER NULL,
  marked_deleted INTEGER NULL,
  flow_moved INTEGER NULL,
  phone_sampled INTEGER NULL,
  phone_sample_failed INTEGER NULL,
  match_rate REAL NULL,
  repaired INTEGER NULL,
  repair_fixed INTEGER NULL,
  match_rate_after_repair REAL NULL,
  open_drift INTEGER NULL,
  cutover_ready INTEGER NULL,
  drift_by_class TEXT NULL,
  seconds REAL NULL,
  error TEXT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT NULL,
  PRIMARY KEY (reconcile_run_id, scope, window_start)
);
CREATE INDEX IF NOT EXISTS idx_reconcile_started ON leads_flow_reconcile_run (started_at);
