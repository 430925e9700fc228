-- A run's staging table (SQLite; MySQL has its own, keyed): the flow table's columns, no keys.
CREATE TABLE {stage} AS SELECT {flow_columns} FROM leads_flow WHERE 1 = 0
