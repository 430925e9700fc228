-- Fragment, not a statement: the newer-wins update of a lead already in leads_flow, filled into the
-- {upsert_newer_wins} slot of publish.sql (the pipeline) and submit/reads_upsert_one.sql (the online write), so
-- both writers converge.
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
WHERE excluded.source_updated_at > {flow_table}.source_updated_at
   OR (excluded.source_updated_at = {flow_table}.source_updated_at
       AND excluded.content_hash IS NOT {flow_table}.content_hash)
