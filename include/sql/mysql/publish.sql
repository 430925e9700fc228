-- Publish a gated staging table in one statement (the caller commits once).
-- Newer wins: a row changes only when the staged source_updated_at is newer, or equal with other
-- content. The condition reads only content_hash and source_updated_at, which are assigned last,
-- because MySQL applies the assignments left to right. Target columns are qualified: the SELECT
-- has the same names. ORDER BY lead_id (the staging table's primary key: no sort): inserts walk
-- the primary key in order (far fewer page splits and random reads) and concurrent publishes lock
-- rows in one order.
INSERT INTO leads_flow (
  lead_id, phone_cipher, phone_bidx, phone_bidx_kid, phone_masked, union_id, window_url, ip_address,
  user_agent, from_channel, has_tool, join_time, leads_type, is_group, main_business_id, is_deleted,
  source_updated_at, content_hash, etl_run_id, etl_loaded_at)
SELECT
  lead_id, phone_cipher, phone_bidx, phone_bidx_kid, phone_masked, union_id, window_url, ip_address,
  user_agent, from_channel, has_tool, join_time, leads_type, is_group, main_business_id, is_deleted,
  source_updated_at, content_hash, etl_run_id, etl_loaded_at
FROM {stage} ORDER BY lead_id
ON DUPLICATE KEY UPDATE
  phone_cipher = IF(VALUES(source_updated_at) > leads_flow.source_updated_at OR (VALUES(source_updated_at) = leads_flow.source_updated_at AND NOT (VALUES(content_hash) <=> leads_flow.content_hash)),
    VALUES(phone_cipher), leads_flow.phone_cipher),
  phone_bidx = IF(VALUES(source_updated_at) > leads_flow.source_updated_at OR (VALUES(source_updated_at) = leads_flow.source_updated_at AND NOT (VALUES(content_hash) <=> leads_flow.content_hash)),
    VALUES(phone_bidx), leads_flow.phone_bidx),
  phone_bidx_kid = IF(VALUES(source_updated_at) > leads_flow.source_updated_at OR (VALUES(source_updated_at) = leads_flow.source_updated_at AND NOT (VALUES(content_hash) <=> leads_flow.content_hash)),
    VALUES(phone_bidx_kid), leads_flow.phone_bidx_kid),
  phone_masked = IF(VALUES(source_updated_at) > leads_flow.source_updated_at OR (VALUES(source_updated_at) = leads_flow.source_updated_at AND NOT (VALUES(content_hash) <=> leads_flow.content_hash)),
    VALUES(phone_masked), leads_flow.phone_masked),
  union_id = IF(VALUES(source_updated_at) > leads_flow.source_updated_at OR (VALUES(source_updated_at) = leads_flow.source_updated_at AND NOT (VALUES(content_hash) <=> leads_flow.content_hash)),
    VALUES(union_id), leads_flow.union_id),
  window_url = IF(VALUES(source_updated_at) > leads_flow.source_updated_at OR (VALUES(source_updated_at) = leads_flow.source_updated_at AND NOT (VALUES(content_hash) <=> leads_flow.content_hash)),
    VALUES(window_url), leads_flow.window_url),
  ip_address = IF(VALUES(source_updated_at) > leads_flow.source_updated_at OR (VALUES(source_updated_at) = leads_flow.source_updated_at AND NOT (VALUES(content_hash) <=> leads_flow.content_hash)),
    VALUES(ip_address), leads_flow.ip_address),
  user_agent = IF(VALUES(source_updated_at) > leads_flow.source_updated_at OR (VALUES(source_updated_at) = leads_flow.source_updated_at AND NOT (VALUES(content_hash) <=> leads_flow.content_hash)),
    VALUES(user_agent), leads_flow.user_agent),
  from_channel = IF(VALUES(source_updated_at) > leads_flow.source_updated_at OR (VALUES(source_updated_at) = leads_flow.source_updated_at AND NOT (VALUES(content_hash) <=> leads_flow.content_hash)),
    VALUES(from_channel), leads_flow.from_channel),
  has_tool = IF(VALUES(source_updated_at) > leads_flow.source_updated_at OR (VALUES(source_updated_at) = leads_flow.source_updated_at AND NOT (VALUES(content_hash) <=> leads_flow.content_hash)),
    VALUES(has_tool), leads_flow.has_tool),
  join_time = IF(VALUES(source_updated_at) > leads_flow.source_updated_at OR (VALUES(source_updated_at) = leads_flow.source_updated_at AND NOT (VALUES(content_hash) <=> leads_flow.content_hash)),
    VALUES(join_time), leads_flow.join_time),
  leads_type = IF(VALUES(source_updated_at) > leads_flow.source_updated_at OR (VALUES(source_updated_at) = leads_flow.source_updated_at AND NOT (VALUES(content_hash) <=> leads_flow.content_hash)),
    VALUES(leads_type), leads_flow.leads_type),
  is_group = IF(VALUES(source_updated_at) > leads_flow.source_updated_at OR (VALUES(source_updated_at) = leads_flow.source_updated_at AND NOT (VALUES(content_hash) <=> leads_flow.content_hash)),
    VALUES(is_group), leads_flow.is_group),
  main_business_id = IF(VALUES(source_updated_at) > leads_flow.source_updated_at OR (VALUES(source_updated_at) = leads_flow.source_updated_at AND NOT (VALUES(content_hash) <=> leads_flow.content_hash)),
    VALUES(main_business_id), leads_flow.main_business_id),
  is_deleted = IF(VALUES(source_updated_at) > leads_flow.source_updated_at OR (VALUES(source_updated_at) = leads_flow.source_updated_at AND NOT (VALUES(content_hash) <=> leads_flow.content_hash)),
    VALUES(is_deleted), leads_flow.is_deleted),
  etl_run_id = IF(VALUES(source_updated_at) > leads_flow.source_updated_at OR (VALUES(source_updated_at) = leads_flow.source_updated_at AND NOT (VALUES(content_hash) <=> leads_flow.content_hash)),
    VALUES(etl_run_id), leads_flow.etl_run_id),
  etl_loaded_at = IF(VALUES(source_updated_at) > leads_flow.source_updated_at OR (VALUES(source_updated_at) = leads_flow.source_updated_at AND NOT (VALUES(content_hash) <=> leads_flow.content_hash)),
    VALUES(etl_loaded_at), leads_flow.etl_loaded_at),
  content_hash = IF(VALUES(source_updated_at) > leads_flow.source_updated_at OR (VALUES(source_updated_at) = leads_flow.source_updated_at AND NOT (VALUES(content_hash) <=> leads_flow.content_hash)),
    VALUES(content_hash), leads_flow.content_hash),
  source_updated_at = GREATEST(VALUES(source_updated_at), leads_flow.source_updated_at)
