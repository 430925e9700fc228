INSERT INTO leads_flow_key_audit (rekey_run_id, phase, table_name, key_kind, kid, row_count, active_kid, recorded_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
