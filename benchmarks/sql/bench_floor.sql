-- The benchmark's floor: the same copy done by the server alone (no Python in the path), producing the
-- same columns with the server's own functions (AES_ENCRYPT/SHA2 stand in for AES-GCM/HMAC).
INSERT INTO {target} (
  lead_id, phone_cipher, phone_bidx, phone_bidx_kid, phone_masked, union_id, window_url, ip_address,
  user_agent, from_channel, has_tool, join_time, leads_type, is_group, main_business_id, is_deleted,
  source_updated_at, content_hash, etl_run_id, etl_loaded_at)
SELECT id,
  CONCAT('e1:1:', TO_BASE64(AES_ENCRYPT(CONCAT('+86', p.n), 'k'))),
  CAST(CONV(LEFT(SHA2(CONCAT('+86', p.n), 256), 16), 16, 10) AS SIGNED),
  '1',
  CONCAT(LEFT(p.n, 3), '****', RIGHT(p.n, 4)),
  NULLIF(TRIM(unionId), ''),
  NULLIF(TRIM(REGEXP_REPLACE(window_url, '1[3-9][0-9]{9}', '***********')), ''),
  IF(IS_IPV4(TRIM(SUBSTRING_INDEX(ip_address, ',', 1))), TRIM(SUBSTRING_INDEX(ip_address, ',', 1)), NULL),
  LEFT(TRIM(user_agent), 1024),
  NULLIF(TRIM(from_channel), ''),
  IF(has_tool IN (0, 1), has_tool, NULL),
  COALESCE(join_time, create_time),
  CASE leads_type WHEN 0 THEN 'normal' WHEN 1 THEN 'internal' END,
  IF(is_group IN (0, 1), is_group, NULL),
  IF(main_business_id > 0, main_business_id, NULL),
  is_deleted <> 0,
  COALESCE(update_time, create_time),
  CRC32(CONCAT_WS('|', unionId, window_url, ip_address, user_agent, from_channel)),
  'floor', NOW(6)
FROM (SELECT *, RIGHT(REGEXP_REPLACE(phone, '[^0-9]', ''), 11) AS n FROM {legacy_db}.leads_aggr
       WHERE (update_time >= :start AND update_time < :end)
          OR (update_time IS NULL AND create_time >= :start AND create_time < :end)) AS p
