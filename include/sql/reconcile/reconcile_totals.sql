-- The run's windows summed (summary task). status lists any window that did not finish its compare.
SELECT COUNT(*), MIN(window_start), MAX(window_end),
       SUM(legacy_rows), SUM(flow_rows), SUM(expected_rows), SUM(matched), SUM(missing_in_flow),
       SUM(missing_in_legacy), SUM(field_drift), SUM(phone_drift), SUM(stale_in_flow), SUM(flow_ahead),
       SUM(rejected_by_rule), SUM(marked_deleted), SUM(flow_moved), SUM(phone_sampled),
       SUM(phone_sample_failed), SUM(repaired), SUM(repair_fixed),
       SUM(CASE WHEN status IN ('compared', 'repaired') THEN 0 ELSE 1 END)
  FROM leads_flow_reconcile_run
 WHERE reconcile_run_id = :run_id AND scope = 'window'
