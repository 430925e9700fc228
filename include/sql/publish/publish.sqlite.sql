-- Publish a gated staging table in one statement (the caller commits once). Newer wins: a row
-- changes only when the staged source_updated_at is newer, or equal with other content
-- (upsert_newer_wins.sql).
{insert_flow_columns}
SELECT
  {flow_columns}
FROM {stage} WHERE true ORDER BY lead_id
{upsert_newer_wins}
