-- Erasure: record an erased lead; a lead erased before keeps its first record.
INSERT IGNORE INTO leads_flow_erasure (lead_id, erased_at, requested_by) VALUES (?, ?, ?)
