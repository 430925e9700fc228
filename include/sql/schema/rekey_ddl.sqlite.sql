-- SQLite variant of the key-rotation audit (leads_flow_rekey).
CREATE TABLE IF NOT EXISTS leads_flow_key_audit (
  audit_id INTEGER PRIMARY KEY AUTOINCREMENT,
  rekey_run_id TEXT NOT NULL,
  phase TEXT NOT NULL,
  table_name TEXT NOT NULL,
  key_kind TEXT NOT NULL,
  kid TEXT NOT NULL,
  row_count INTEGER NOT NULL,
  active_kid TEXT NOT NULL,
  recorded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_key_audit_run ON leads_flow_key_audit (rekey_run_id);
CREATE INDEX IF NOT EXISTS idx_key_audit_recorded ON leads_flow_key_audit (recorded_at);
