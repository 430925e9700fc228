-- Resurrection guard: this run's rejects of erased leads (a reject keeps the lead's raw values, protected).
DELETE FROM leads_flow_reject
 WHERE etl_run_id = :etl_run_id AND lead_id IN (SELECT lead_id FROM leads_flow_erasure)
