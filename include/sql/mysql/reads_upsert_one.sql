-- One lead written by an online service (leads_flow.reads.submit_lead): the row built by the same
-- Mapper as the sync pipeline, upserted with the same newer-wins clause as publish.sql, so both
-- writers converge.
-- include: insert_flow_columns
VALUES (
  :lead_id, :phone_cipher, :phone_bidx, :phone_bidx_kid, :phone_masked, :union_id, :window_url,
  :ip_address, :user_agent, :from_channel, :has_tool, :join_time, :leads_type, :is_group,
  :main_business_id, :is_deleted, :source_updated_at, :content_hash, :etl_run_id, :etl_loaded_at)
-- include: upsert_newer_wins
