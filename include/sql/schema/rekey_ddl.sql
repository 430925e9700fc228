-- Key rotation (leads_flow_rekey): rows per kid before and after each run, one row per (phase, table, key kind, kid).
CREATE TABLE IF NOT EXISTS leads_flow_key_audit (
  audit_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  rekey_run_id VARCHAR(250) NOT NULL,
  phase VARCHAR(8) CHARACTER SET ascii NOT NULL COMMENT 'before or after',
  table_name VARCHAR(64) CHARACTER SET ascii NOT NULL COMMENT 'leads_flow or leads_flow_reject',
  key_kind VARCHAR(4) CHARACTER SET ascii NOT NULL COMMENT 'enc or bidx',
  kid VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL COMMENT 'a kid, or ? for a value that is not one',
  row_count BIGINT NOT NULL,
  active_kid VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  recorded_at DATETIME(6) NOT NULL,
  KEY idx_key_audit_run (rekey_run_id),
  KEY idx_key_audit_recorded (recorded_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
