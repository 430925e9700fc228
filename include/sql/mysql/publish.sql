-- Publish a gated staging table in one statement (the caller commits once).
-- Newer wins (upsert_newer_wins.sql): a row changes only when the staged source_updated_at is newer,
-- or equal with other content. ORDER BY lead_id (the staging table's primary key: no sort): inserts
-- walk the primary key in order (far fewer page splits and random reads) and concurrent publishes
-- lock rows in one order.
-- include: insert_flow_columns
SELECT
  lead_id, phone_cipher, phone_bidx, phone_bidx_kid, phone_masked, union_id, window_url, ip_address,
  user_agent, from_channel, has_tool, join_time, leads_type, is_group, main_business_id, is_deleted,
  source_updated_at, content_hash, etl_run_id, etl_loaded_at
FROM {stage} ORDER BY lead_id
-- include: upsert_newer_wins
