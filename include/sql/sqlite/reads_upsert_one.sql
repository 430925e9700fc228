-- One lead written by an online service (leads_flow.reads.submit_lead): the row built by the same
-- Mapper as the sync pipeline, upserted with publish.sql's newer-wins rule. The update clause is
-- publish.sql's, byte for byte (tests/integration/test_reads.py checks it), so both writers converge.
INSERT INTO leads_flow (
  lead_id, phone_cipher, phone_bidx, phone_bidx_kid, phone_masked, union_id, window_url, ip_address,
  user_agent, from_channel, has_tool, join_time, leads_type, is_group, main_business_id, is_deleted,
  source_updated_at, content_hash, etl_run_id, etl_loaded_at)
VALUES (
  :lead_id, :phone_cipher, :phone_bidx, :phone_bidx_kid, :phone_masked, :union_id, :window_url,
  :ip_address, :user_agent, :from_channel, :has_tool, :join_time, :leads_type, :is_group,
  :main_business_id, :is_deleted, :source_updated_at, :content_hash, :etl_run_id, :etl_loaded_at)
ON CONFLICT (lead_id) DO UPDATE SET
  phone_cipher = excluded.phone_cipher, phone_bidx = excluded.phone_bidx,
  phone_bidx_kid = excluded.phone_bidx_kid, phone_masked = excluded.phone_masked,
  union_id = excluded.union_id, window_url = excluded.window_url, ip_address = excluded.ip_address,
  user_agent = excluded.user_agent, from_channel = excluded.from_channel,
  has_tool = excluded.has_tool, join_time = excluded.join_time, leads_type = excluded.leads_type,
  is_group = excluded.is_group, main_business_id = excluded.main_business_id,
  is_deleted = excluded.is_deleted, source_updated_at = excluded.source_updated_at,
  content_hash = excluded.content_hash, etl_run_id = excluded.etl_run_id,
  etl_loaded_at = excluded.etl_loaded_at
WHERE excluded.source_updated_at > leads_flow.source_updated_at
   OR (excluded.source_updated_at = leads_flow.source_updated_at
       AND excluded.content_hash IS NOT leads_flow.content_hash)
