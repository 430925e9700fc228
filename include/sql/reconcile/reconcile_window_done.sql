UPDATE leads_flow_reconcile_run
   SET status = 'compared', legacy_rows = :legacy_rows, flow_rows = :flow_rows,
       expected_rows = :expected_rows, matched = :matched, missing_in_flow = :missing_in_flow,
       missing_in_legacy = :missing_in_legacy, field_drift = :field_drift, phone_drift = :phone_drift,
       stale_in_flow = :stale_in_flow, flow_ahead = :flow_ahead, rejected_by_rule = :rejected_by_rule,
       marked_deleted = :marked_deleted, flow_moved = :flow_moved, phone_sampled = :phone_sampled,
       phone_sample_failed = :phone_sample_failed, match_rate = :match_rate, drift_by_class = :drift_by_class,
       seconds = :seconds, finished_at = :now
 WHERE reconcile_run_id = :run_id AND scope = 'window' AND window_start = :window_start
