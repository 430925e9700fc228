INSERT INTO leads_flow_reject (etl_run_id, lead_id, reasons, raw_values, source_updated_at, rejected_at)
VALUES (?, ?, ?, ?, ?, ?)
