SELECT extracted, staged, rejected, coerced, timings, status FROM leads_flow_run WHERE etl_run_id = :etl_run_id
