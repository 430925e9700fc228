-- The head of every write into leads_flow (publish.sql, reads_upsert_one.sql), in STAGE_COLUMNS order.
INSERT INTO leads_flow (
  lead_id, phone_cipher, phone_bidx, phone_bidx_kid, phone_masked, union_id, window_url, ip_address,
  user_agent, from_channel, has_tool, join_time, leads_type, is_group, main_business_id, is_deleted,
  source_updated_at, content_hash, etl_run_id, etl_loaded_at)
