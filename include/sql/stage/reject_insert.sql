-- One reject per lead and source version (uq_reject_version): a rerun, or another run of the same window,
-- replaces the row instead of adding one.
INSERT INTO leads_flow_reject (etl_run_id, lead_id, reasons, raw_values, source_updated_at, source_version,
  phone_bidx, phone_bidx_kid, rejected_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON DUPLICATE KEY UPDATE etl_run_id = VALUES(etl_run_id), reasons = VALUES(reasons), raw_values = VALUES(raw_values),
  source_updated_at = VALUES(source_updated_at), phone_bidx = VALUES(phone_bidx),
  phone_bidx_kid = VALUES(phone_bidx_kid), rejected_at = VALUES(rejected_at)
