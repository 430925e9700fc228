-- The change journal's part of the publish (io/publish.py, same transaction, after publish.sql): every staged
-- version not yet recorded; the primary key (lead_id, source_updated_at, content_hash) is the version, so a
-- rerun adds nothing.
INSERT OR IGNORE INTO leads_flow_history ({flow_columns})
SELECT {flow_columns} FROM {stage} ORDER BY lead_id
