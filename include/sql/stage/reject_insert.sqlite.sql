-- One reject per lead and source version (uq_reject_version): a rerun, or another run of the same window,
-- replaces the row instead of adding one.
INSERT INTO leads_flow_reject (etl_run_id, lead_id, reasons, raw_values, source_updated_at, source_version,
  phone_bidx, phone_bidx_kid, rejected_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (lead_id, source_version) DO UPDATE SET etl_run_id = excluded.etl_run_id, reasons = excluded.reasons,
  raw_values = excluded.raw_values, source_updated_at = excluded.source_updated_at,
  phone_bidx = excluded.phone_bidx, phone_bidx_kid = excluded.phone_bidx_kid, rejected_at = excluded.rejected_at
