-- Record a kid's check value unless one is recorded (see key_check_insert.sql).
INSERT OR IGNORE INTO leads_flow_key_check (ring, kid, check_value, recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?)
