UPDATE leads_flow_run
   SET status = :status, published = :published, timings = :timings, finished_at = :now
 WHERE etl_run_id = :etl_run_id
