-- The change journal's part of the publish (io/publish.py, same transaction, after publish.sql): every staged
-- version not yet recorded. The primary key (lead_id, source_updated_at, content_hash) is the version, so a
-- rerun adds nothing. IGNORE only skips versions already there: every value fitted leads_flow's same-typed
-- columns in the statement just before. The staging table is read in its primary-key order (lead_id), the
-- journal's leading key column, so inserts walk its clustered index in order.
INSERT IGNORE INTO leads_flow_history ({flow_columns})
SELECT {flow_columns} FROM {stage} ORDER BY lead_id
