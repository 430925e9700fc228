-- Drift rows of a run by class and what became of them (summary task and cutover readiness).
SELECT drift_class, next_action, COALESCE(repair_result, ''), COUNT(*)
  FROM leads_flow_drift
 WHERE reconcile_run_id = :run_id
 GROUP BY drift_class, next_action, COALESCE(repair_result, '')
 ORDER BY drift_class, next_action
