-- A run's staging table (SQLite; the default, stage_create.sql, is keyed): the flow table's columns, no keys.
CREATE TABLE {stage} AS SELECT {flow_columns} FROM leads_flow WHERE 1 = 0
