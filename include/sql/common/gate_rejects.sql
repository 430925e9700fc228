-- The partition's rejects, counted against max_reject_ratio.
SELECT lead_id FROM leads_flow_reject WHERE etl_run_id = '{etl_run_id}'
