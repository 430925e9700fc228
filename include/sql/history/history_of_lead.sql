-- A lead's versions, oldest first (a range of the journal's version key); versions recorded for the same
-- source_updated_at (a same-timestamp rewrite) in the order they were recorded.
SELECT {columns} FROM leads_flow_history
 WHERE lead_id = :lead_id
 ORDER BY source_updated_at, etl_loaded_at, content_hash
