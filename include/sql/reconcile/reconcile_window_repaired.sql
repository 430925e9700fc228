UPDATE leads_flow_reconcile_run
   SET status = 'repaired', repaired = :repaired, repair_fixed = :repair_fixed,
       match_rate_after_repair = :match_rate_after_repair
 WHERE reconcile_run_id = :run_id AND scope = 'window' AND window_start = :window_start
