-- A run's staging table (SQLite; MySQL has its own, keyed): the flow table's columns, no keys.
CREATE TABLE {stage} AS SELECT * FROM leads_flow WHERE 1 = 0
