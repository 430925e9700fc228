-- SQLite twin of mysql/gate_audit.sql (GX registers REGEXP; SQLite has no INET6_ATON, so the IP check
-- only refuses characters no IPv4/IPv6 text form has).
CREATE TABLE {audit} AS SELECT
  COUNT(*) AS staged_rows,
  COALESCE(SUM(leads_type NOT IN ({leads_types})), 0) AS leads_type_not_in_set,
  COALESCE(SUM(leads_type IS NULL), 0) AS leads_type_null,
  COALESCE(COUNT(*) - COUNT(DISTINCT lead_id) + SUM(lead_id IS NULL), 0) AS lead_id_not_unique_or_null,
  COALESCE(SUM(phone_cipher IS NOT NULL AND NOT phone_cipher REGEXP '{e1}'), 0) AS phone_cipher_not_e1,
  COALESCE(SUM((phone_cipher IS NULL) <> (phone_bidx IS NULL) OR (phone_cipher IS NULL) <> (phone_bidx_kid IS NULL)
      OR (phone_cipher IS NULL) <> (phone_masked IS NULL)), 0) AS phone_cipher_without_bidx,
  COALESCE(SUM(COALESCE(phone_masked, '') || '|' || COALESCE(window_url, '') || '|' || COALESCE(ip_address, '') || '|'
      || COALESCE(user_agent, '') || '|' || COALESCE(from_channel, '') || '|' || COALESCE(leads_type, '')
      REGEXP '{mobile}'
      OR COALESCE(union_id, '') || '|' || COALESCE(phone_cipher, '') REGEXP '{mobile_apart}'), 0) AS plaintext_mobile,
  COALESCE(SUM(has_tool IS NOT NULL AND has_tool NOT IN (0, 1)) + SUM(is_group IS NOT NULL AND is_group NOT IN (0, 1)), 0) AS flag_not_0_1_null,
  COALESCE(SUM(join_time IS NULL OR join_time < '{min_join}' OR join_time > '{max_join}'), 0) AS join_time_out_of_range,
  COALESCE(SUM(ip_address IS NOT NULL AND (ip_address = '' OR ip_address GLOB '*[^0-9a-fA-F.:]*')), 0) AS ip_address_invalid
FROM {stage}
