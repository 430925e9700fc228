-- Run report: the volume check of one partition run (NULL: not checked, or a run from before the check).
SELECT volume_check FROM leads_flow_run WHERE etl_run_id = :etl_run_id
