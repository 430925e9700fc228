UPDATE leads_flow_run
   SET status = :status, gate_success = :gate_success, gate_failed_checks = :gate_failed_checks,
       gate_results = :gate_results, timings = :timings, finished_at = :finished_at
 WHERE etl_run_id = :etl_run_id
