-- The change journal's part of the publish (io/publish.py, same transaction, after publish.sql): every staged
-- version not yet recorded. The unique key (lead_id, source_updated_at, content_hash) is the version, so a
-- rerun adds nothing. IGNORE only skips versions already there: every value fitted leads_flow's same-typed
-- columns in the statement just before. The rows append at the end of the journal (clustered by
-- etl_loaded_at); read in the staging table's key order (lead_id), they walk the version key in order.
INSERT IGNORE INTO leads_flow_history ({flow_columns})
SELECT {flow_columns} FROM {stage} ORDER BY lead_id
