-- A window's compare starts afresh: a retry or a rerun under the same run id replaces its rows.
DELETE FROM leads_flow_drift WHERE reconcile_run_id = :run_id AND window_start = :window_start;
DELETE FROM leads_flow_reconcile_run
 WHERE reconcile_run_id = :run_id AND scope = 'window' AND window_start = :window_start;
INSERT INTO leads_flow_reconcile_run (reconcile_run_id, scope, window_start, window_end, dag_id, dag_run_id,
                                      status, started_at)
VALUES (:run_id, 'window', :window_start, :window_end, :dag_id, :dag_run_id, 'comparing', :now)
