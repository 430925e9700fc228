-- A run's staging table: the flow table's columns, no keys (loads fast; the gate checks uniqueness).
CREATE TABLE {stage} AS SELECT * FROM leads_flow WHERE 1 = 0
