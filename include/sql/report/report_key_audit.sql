-- The run report's key-rotation page: the audit rows of the latest rekey runs (counts per kid before/after).
SELECT rekey_run_id, phase, table_name, key_kind, kid, row_count, active_kid, recorded_at
FROM leads_flow_key_audit
WHERE rekey_run_id IN (SELECT rekey_run_id FROM (
        SELECT rekey_run_id, MAX(recorded_at) AS last_at FROM leads_flow_key_audit
        GROUP BY rekey_run_id ORDER BY last_at DESC LIMIT :limit) AS latest)
ORDER BY recorded_at DESC, rekey_run_id, phase DESC, table_name, key_kind, kid
