-- The window's leads the repair re-syncs through the pipeline (primary-key prefix of leads_flow_drift).
SELECT lead_id FROM leads_flow_drift
 WHERE reconcile_run_id = :run_id AND window_start = :window_start AND next_action IN ('repair', 'rewrite')
 ORDER BY lead_id
