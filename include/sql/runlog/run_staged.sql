UPDATE leads_flow_run
   SET status = :status, extracted = :extracted, staged = :staged, rejected = :rejected,
       coerced = :coerced, rejects_by_reason = :rejects_by_reason, timings = :timings
 WHERE etl_run_id = :etl_run_id
