-- SQLite variant of gate_audit.sql: the same checks and the same second implementation of "a phone in
-- text" (see there). SQLite has no INET6_ATON, so the IP check only refuses characters no IPv4/IPv6 text form
-- has; REGEXP and REGEXP_REPLACE are registered by leads_flow.io.connect (Python's re, which reads these
-- patterns as PCRE does).
CREATE TABLE {audit} AS SELECT
  COUNT(*) AS staged_rows,
  :rejected AS rejected_rows,
  COALESCE(SUM(leads_type NOT IN ({placeholders})), 0) AS leads_type_not_in_set,
  COALESCE(SUM(leads_type IS NULL), 0) AS leads_type_null,
  COALESCE(COUNT(*) - COUNT(DISTINCT lead_id) + SUM(lead_id IS NULL), 0) AS lead_id_not_unique_or_null,
  COALESCE(SUM(phone_cipher IS NOT NULL AND NOT phone_cipher REGEXP :e1), 0) AS phone_cipher_not_e1,
  COALESCE(SUM((phone_cipher IS NULL) <> (phone_bidx IS NULL) OR (phone_cipher IS NULL) <> (phone_bidx_kid IS NULL)
      OR (phone_cipher IS NULL) <> (phone_masked IS NULL)), 0) AS phone_cipher_without_bidx,
  COALESCE(SUM(REGEXP_REPLACE(t3,
      '(?<![0-9])(?<![0-9][.])(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:[.](?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}(?![0-9])(?![.][0-9])',
      '#')
    REGEXP '(?<![0-9])(?:(?:0[-_./()+ \t\r\n]*0[-_./()+ \t\r\n]*8[-_./()+ \t\r\n]*6|8[-_./()+ \t\r\n]*6|0)[-_./()+ \t\r\n]*)?(?:1(?:(?<=[0-9][0-9])[-_./()+ \t\r\n]+(?=[0-9][0-9]))?[3-9](?:(?:(?<=[0-9][0-9])[-_./()+ \t\r\n]+(?=[0-9][0-9]))?[0-9]){9}|1[-_./()+ \t\r\n]+[3-9](?:[-_./()+ \t\r\n]+[0-9]){9})(?![0-9])'
  ), 0) AS plaintext_mobile,
  COALESCE(SUM(has_tool IS NOT NULL AND has_tool NOT IN (0, 1)) + SUM(is_group IS NOT NULL AND is_group NOT IN (0, 1)), 0) AS flag_not_0_1_null,
  COALESCE(SUM(join_time IS NULL OR join_time < :min_join OR join_time > :max_join), 0) AS join_time_out_of_range,
  COALESCE(SUM(ip_address IS NOT NULL AND (ip_address = '' OR ip_address GLOB '*[^0-9a-fA-F.:]*')), 0) AS ip_address_invalid
FROM (
  SELECT t2s.*, CASE WHEN LENGTH(CAST(t2 AS BLOB)) = LENGTH(t2) THEN t2 ELSE
      REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(
        REGEXP_REPLACE(t2, '[　 －＿／（）＋‐‑‒–—―−]', ' '),
        '．', '.'), '０', '0'), '１', '1'), '２', '2'), '３', '3'), '４', '4'), '５', '5'), '６', '6'), '７', '7'), '８', '8'), '９', '9') END AS t3
  FROM (
    SELECT t1s.*, CASE WHEN INSTR(t1, '%') = 0 THEN t1 ELSE
        REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(t1,
          '%(?![0-9A-Fa-f][0-9A-Fa-f])', '#'),
          '(?i)%(?:3([0-9])|EF%BC%9([0-9]))', '\1\2'),
          '(?i)%2E', '.'),
          '(?i)%(?:2[0DF89B]|5F)', ' '),
          '%[0-9A-Fa-f][0-9A-Fa-f]', '#') END AS t2
    FROM (
      SELECT s.*, COALESCE(union_id, '') || '|' || COALESCE(window_url, '') || '|' || COALESCE(ip_address, '')
                  || '|' || COALESCE(user_agent, '') || '|' || COALESCE(from_channel, '') || '|'
                  || COALESCE(phone_masked, '') || '|' || COALESCE(leads_type, '') AS t1
      FROM {stage} s
    ) t1s
  ) t2s
) staged
