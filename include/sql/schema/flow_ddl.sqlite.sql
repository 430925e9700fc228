-- SQLite variant of the pipeline's own tables, for the embedded demo.
CREATE TABLE IF NOT EXISTS leads_flow (
  lead_id INTEGER NOT NULL PRIMARY KEY,
  phone_cipher TEXT NULL,
  phone_bidx INTEGER NULL,
  phone_bidx_kid TEXT NULL,
  phone_masked TEXT NULL,
  union_id TEXT NULL,
  window_url TEXT NULL,
  ip_address TEXT NULL,
  user_agent TEXT NULL,
  from_channel TEXT NULL,
  has_tool INTEGER NULL,
  join_time TEXT NULL,
  leads_type TEXT NULL,
  is_group INTEGER NULL,
  main_business_id INTEGER NULL,
  is_deleted INTEGER NOT NULL DEFAULT 0,
  source_updated_at TEXT NOT NULL,
  content_hash INTEGER NULL,
  etl_run_id TEXT NULL,
  etl_loaded_at TEXT NULL,
  phone_enc_kid TEXT GENERATED ALWAYS AS (
    CASE WHEN substr(phone_cipher, 1, 3) = 'e1:' AND instr(substr(phone_cipher, 4), ':') > 0
      THEN substr(phone_cipher, 4, instr(substr(phone_cipher, 4), ':') - 1) END
  ) VIRTUAL
);
CREATE INDEX IF NOT EXISTS idx_phone_bidx ON leads_flow (phone_bidx_kid, phone_bidx);
CREATE INDEX IF NOT EXISTS idx_union_id ON leads_flow (union_id);
CREATE INDEX IF NOT EXISTS idx_channel_join ON leads_flow (from_channel, join_time);
CREATE INDEX IF NOT EXISTS idx_source_updated_at ON leads_flow (source_updated_at);

CREATE TABLE IF NOT EXISTS leads_flow_reject (
  etl_run_id TEXT NOT NULL,
  lead_id INTEGER NOT NULL,
  reasons TEXT NOT NULL,
  raw_values TEXT NULL,
  source_updated_at TEXT NULL,
  source_version TEXT NOT NULL DEFAULT '1000-01-01 00:00:00',
  phone_bidx INTEGER NULL,
  phone_bidx_kid TEXT NULL,
  rejected_at TEXT NOT NULL,
  PRIMARY KEY (etl_run_id, lead_id)
);
CREATE INDEX IF NOT EXISTS idx_reject_lead ON leads_flow_reject (lead_id);
CREATE INDEX IF NOT EXISTS idx_reject_at ON leads_flow_reject (rejected_at);

CREATE TABLE IF NOT EXISTS leads_flow_run (
  etl_run_id TEXT NOT NULL PRIMARY KEY,
  dag_id TEXT NULL,
  dag_run_id TEXT NULL,
  partition_start TEXT NOT NULL,
  partition_end TEXT NOT NULL,
  window_start TEXT NOT NULL,
  window_end TEXT NOT NULL,
  status TEXT NOT NULL,
  extracted INTEGER NULL,
  staged INTEGER NULL,
  rejected INTEGER NULL,
  coerced INTEGER NULL,
  published INTEGER NULL,
  rejects_by_reason TEXT NULL,
  gate_success INTEGER NULL,
  gate_failed_checks TEXT NULL,
  gate_results TEXT NULL,
  timings TEXT NULL,
  volume_check TEXT NULL,
  error TEXT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT NULL
);
CREATE INDEX IF NOT EXISTS idx_run_started ON leads_flow_run (started_at);
