-- Run report: the first rejected leads of a run: ids, reason codes and the legacy values as stored (the phone
-- e1-encrypted, phones inside text masked; the report masks every string again).
SELECT lead_id, reasons, source_updated_at, raw_values
  FROM leads_flow_reject
 WHERE etl_run_id = :etl_run_id
 ORDER BY lead_id
 LIMIT :limit
