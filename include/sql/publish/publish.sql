-- Publish a gated staging table in one statement (the caller commits once).
-- Newer wins (upsert_newer_wins.sql): a row changes only when the staged source_updated_at is newer,
-- or equal with other content. ORDER BY lead_id (the staging table's primary key: no sort): inserts
-- walk the primary key in order (far fewer page splits and random reads) and concurrent publishes
-- lock rows in one order.
{insert_flow_columns}
SELECT
  {flow_columns}
FROM {stage} ORDER BY lead_id
{upsert_newer_wins}
