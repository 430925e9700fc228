-- Run report: the first rejected leads of a run (ids and reason codes only, never raw values).
SELECT lead_id, reasons, source_updated_at
  FROM leads_flow_reject
 WHERE etl_run_id = :etl_run_id
 ORDER BY lead_id
 LIMIT :limit
