-- SQLite variant of the change journal (history_ddl.sql says what it holds and why).
CREATE TABLE IF NOT EXISTS leads_flow_history (
  lead_id INTEGER NOT NULL,
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
  content_hash INTEGER NOT NULL,
  etl_run_id TEXT NULL,
  etl_loaded_at TEXT NULL,
  PRIMARY KEY (lead_id, source_updated_at, content_hash)
) WITHOUT ROWID;
