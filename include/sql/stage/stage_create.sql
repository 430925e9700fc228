-- A run's staging table: the flow table's stored columns (STAGE_COLUMNS; not the computed kid) keyed by lead_id alone. No secondary index to maintain
-- while loading; the publish reads it in primary-key order without sorting a million rows; and a lead read
-- twice (moved between slices by an update during the read) fails its load, so the stage reads again.
CREATE TABLE {stage} (PRIMARY KEY (lead_id)) AS SELECT {flow_columns} FROM leads_flow WHERE 1 = 0
