-- The run's summary row over its whole range (scope 'run'); rewritten when the summary task reruns.
DELETE FROM leads_flow_reconcile_run WHERE reconcile_run_id = :run_id AND scope = 'run';
INSERT INTO leads_flow_reconcile_run (
  reconcile_run_id, scope, window_start, window_end, dag_id, dag_run_id, status, windows, legacy_rows,
  flow_rows, expected_rows, matched, missing_in_flow, missing_in_legacy, field_drift, phone_drift,
  stale_in_flow, flow_ahead, rejected_by_rule, marked_deleted, flow_moved, phone_sampled,
  phone_sample_failed, match_rate, repaired, repair_fixed, match_rate_after_repair, open_drift,
  cutover_ready, drift_by_class, seconds, started_at, finished_at)
VALUES (
  :run_id, 'run', :window_start, :window_end, :dag_id, :dag_run_id, :status, :windows, :legacy_rows,
  :flow_rows, :expected_rows, :matched, :missing_in_flow, :missing_in_legacy, :field_drift, :phone_drift,
  :stale_in_flow, :flow_ahead, :rejected_by_rule, :marked_deleted, :flow_moved, :phone_sampled,
  :phone_sample_failed, :match_rate, :repaired, :repair_fixed, :match_rate_after_repair, :open_drift,
  :cutover_ready, :drift_by_class, :seconds, :now, :now)
