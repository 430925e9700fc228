-- The gate's volume check result (JSON) of a partition run.
UPDATE leads_flow_run SET volume_check = :volume_check WHERE etl_run_id = :etl_run_id
