-- Fragment, not a statement: the head of every write into leads_flow, filled into the {insert_flow_columns}
-- slot of publish.sql and submit/reads_upsert_one.sql. {flow_columns} is leads_flow.rules.fields.STAGE_COLUMNS,
-- filled in by leads_flow.io.sql.render.
INSERT INTO {flow_table} ({flow_columns})
