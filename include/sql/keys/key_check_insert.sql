-- Record a kid's check value unless one is recorded: a recorded key is never replaced (a new key is a new kid).
INSERT IGNORE INTO leads_flow_key_check (ring, kid, check_value, recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?)
