-- The reconcile DAG's own tables (leads_flow.reconcile.model.ensure_reconcile_schema). Idempotent.
-- leads_flow_drift: one row per lead that does not match, per reconcile run and window. Never a value:
-- detail is JSON of field names, reason codes and time differences.
CREATE TABLE IF NOT EXISTS leads_flow_drift (
  reconcile_run_id VARCHAR(250) NOT NULL,
  window_start DATETIME NOT NULL,
  window_end DATETIME NOT NULL,
  lead_id BIGINT UNSIGNED NOT NULL,
  drift_class VARCHAR(32) CHARACTER SET ascii NOT NULL
    COMMENT 'missing_in_flow, missing_in_legacy, field_drift, phone_drift, stale_in_flow, flow_ahead, rejected_by_rule, erased (not drift)',
  next_action VARCHAR(16) CHARACTER SET ascii NOT NULL
    COMMENT 'repair, marked_deleted, investigate, wait or none',
  detail TEXT NULL COMMENT 'JSON: field names, reason codes, time differences; never a value',
  legacy_updated_at DATETIME NULL,
  flow_updated_at DATETIME NULL,
  detected_at DATETIME(6) NOT NULL,
  repair_etl_run_id VARCHAR(250) NULL,
  repaired_at DATETIME(6) NULL,
  repair_result VARCHAR(32) CHARACTER SET ascii NULL COMMENT 'fixed, gone, or the class still found',
  PRIMARY KEY (reconcile_run_id, window_start, lead_id),
  KEY idx_drift_lead (lead_id),
  KEY idx_drift_class (drift_class, detected_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- leads_flow_reconcile_run: one row per compared window (scope 'window') and one per run over its whole
-- range (scope 'run', written by the summary task).
CREATE TABLE IF NOT EXISTS leads_flow_reconcile_run (
  reconcile_run_id VARCHAR(250) NOT NULL,
  scope VARCHAR(8) CHARACTER SET ascii NOT NULL,
  window_start DATETIME NOT NULL,
  window_end DATETIME NOT NULL,
  dag_id VARCHAR(250) NULL,
  dag_run_id VARCHAR(250) NULL,
  status VARCHAR(16) NOT NULL,
  windows INT NULL,
  legacy_rows INT NULL,
  flow_rows INT NULL,
  expected_rows INT NULL COMMENT 'legacy rows that should be in leads_flow: legacy_rows - rejected_by_rule',
  matched INT NULL,
  missing_in_flow INT NULL,
  missing_in_legacy INT NULL,
  field_drift INT NULL,
  phone_drift INT NULL,
  stale_in_flow INT NULL,
  flow_ahead INT NULL,
  rejected_by_rule INT NULL,
  marked_deleted INT NULL,
  flow_moved INT NULL,
  phone_sampled INT NULL,
  phone_sample_failed INT NULL,
  match_rate DOUBLE NULL COMMENT 'matched / expected_rows',
  repaired INT NULL,
  repair_fixed INT NULL,
  match_rate_after_repair DOUBLE NULL,
  open_drift INT NULL,
  cutover_ready TINYINT(1) NULL,
  drift_by_class TEXT NULL,
  seconds DOUBLE NULL,
  error TEXT NULL,
  started_at DATETIME(6) NOT NULL,
  finished_at DATETIME(6) NULL,
  PRIMARY KEY (reconcile_run_id, scope, window_start),
  KEY idx_reconcile_started (started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
