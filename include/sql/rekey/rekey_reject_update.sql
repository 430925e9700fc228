-- Optimistic: only while the reject still holds the raw values that were read.
UPDATE leads_flow_reject
SET raw_values = :new_raw, phone_bidx = :bidx, phone_bidx_kid = :bidx_kid
WHERE etl_run_id = :etl_run_id AND lead_id = :lead_id AND raw_values = :old_raw
