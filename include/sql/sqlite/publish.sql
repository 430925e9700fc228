-- Publish a gated staging table in one statement (the caller commits once). Newer wins: a row
-- changes only when the staged source_updated_at is newer, or equal with other content
-- (upsert_newer_wins.sql).
-- include: insert_flow_columns
SELECT
  lead_id, phone_cipher, phone_bidx, phone_bidx_kid, phone_masked, union_id, window_url, ip_address,
  user_agent, from_channel, has_tool, join_time, leads_type, is_group, main_business_id, is_deleted,
  source_updated_at, content_hash, etl_run_id, etl_loaded_at
FROM {stage} WHERE true ORDER BY lead_id
-- include: upsert_newer_wins
