-- When a bulk partition's stage began: the bound of the catch-up a rerun makes from leads_flow__old.
SELECT started_at FROM leads_flow_run WHERE etl_run_id = :etl_run_id
