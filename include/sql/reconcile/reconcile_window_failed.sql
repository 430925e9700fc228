UPDATE leads_flow_reconcile_run
   SET status = 'failed', error = :error, finished_at = :now
 WHERE reconcile_run_id = :run_id AND scope = 'window' AND window_start = :window_start
