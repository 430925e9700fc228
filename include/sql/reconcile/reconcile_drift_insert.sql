INSERT INTO leads_flow_drift (reconcile_run_id, window_start, window_end, lead_id, drift_class, next_action,
                              detail, legacy_updated_at, flow_updated_at, detected_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
