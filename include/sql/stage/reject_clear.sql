-- A retried or rerun partition replaces its own rejects.
DELETE FROM leads_flow_reject WHERE etl_run_id = :etl_run_id
