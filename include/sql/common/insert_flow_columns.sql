-- The head of every write into leads_flow (publish.sql, reads_upsert_one.sql). {flow_columns} is
-- leads_flow.rules.mapping.STAGE_COLUMNS, filled in by leads_flow.io.db.render.
INSERT INTO leads_flow ({flow_columns})
