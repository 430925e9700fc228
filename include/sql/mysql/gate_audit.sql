-- The gate's row-level checks over the staged rows, counted in ONE scan into a one-row audit table (a column
-- per check; 0, not NULL, on an empty day) that GX then validates: every count must be 0 (staged_rows must
-- equal the rows extracted minus those rejected).
-- A scan per check would cost the gate 5-10x more.
-- Free text is searched for a mobile number between non-digits; opaque identifiers (unionId, tokens)
-- only for one standing apart from letters too, since random ids may hold 11 digits in a row.
CREATE TABLE {audit} AS SELECT
  COUNT(*) AS staged_rows,
  COALESCE(SUM(leads_type NOT IN ({leads_types})), 0) AS leads_type_not_in_set,
  COALESCE(SUM(leads_type IS NULL), 0) AS leads_type_null,
  COALESCE(COUNT(*) - COUNT(DISTINCT lead_id) + SUM(lead_id IS NULL), 0) AS lead_id_not_unique_or_null,
  COALESCE(SUM(phone_cipher IS NOT NULL AND NOT phone_cipher REGEXP '{e1}'), 0) AS phone_cipher_not_e1,
  COALESCE(SUM((phone_cipher IS NULL) <> (phone_bidx IS NULL) OR (phone_cipher IS NULL) <> (phone_bidx_kid IS NULL)
      OR (phone_cipher IS NULL) <> (phone_masked IS NULL)), 0) AS phone_cipher_without_bidx,
  COALESCE(SUM(CONCAT_WS('|', phone_masked, window_url, ip_address, user_agent, from_channel, leads_type) REGEXP '{mobile}'
      OR CONCAT_WS('|', union_id, phone_cipher) REGEXP '{mobile_apart}'), 0) AS plaintext_mobile,
  COALESCE(SUM(has_tool IS NOT NULL AND has_tool NOT IN (0, 1)) + SUM(is_group IS NOT NULL AND is_group NOT IN (0, 1)), 0) AS flag_not_0_1_null,
  COALESCE(SUM(join_time IS NULL OR join_time < '{min_join}' OR join_time > '{max_join}'), 0) AS join_time_out_of_range,
  COALESCE(SUM(ip_address IS NOT NULL AND INET6_ATON(ip_address) IS NULL), 0) AS ip_address_invalid
FROM {stage}
