-- The keyring's check values (leads_flow.io.key_check): see key_check_ddl.sql.
CREATE TABLE IF NOT EXISTS leads_flow_key_check (
  ring TEXT NOT NULL,
  kid TEXT NOT NULL,
  check_value TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  recorded_by TEXT NOT NULL,
  PRIMARY KEY (ring, kid)
)
