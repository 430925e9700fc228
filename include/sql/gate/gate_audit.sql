-- The gate's row-level checks over the staged rows, counted in ONE scan into a one-row audit table (a column
-- per check; 0, not NULL, on an empty day) that GX then validates: every count must be 0 (staged_rows must
-- equal the rows extracted minus those rejected). A scan per check would cost the gate 5-10x more.
-- rejected_rows is the stage's own count of the partition's rejects (bound, :rejected), checked against
-- max_reject_ratio: rows of leads_flow_reject can pass to an overlapping run of the same window, the count cannot.
-- {placeholders}: one bound :leads_type_N per known leads type (leads_flow.rules.fields.LEADS_TYPES).
--
-- plaintext_mobile is the second implementation of "a phone in text" (docs/phone-protection.md), written
-- from the definition and sharing nothing with the mapping's (leads_flow.rules.phone.find_mobiles), so a blind
-- spot of one is not a blind spot of both. Over the staged text columns joined by '|' (ip_address only when
-- it is no valid address; ip_address_invalid fails it then anyway). A cheap pre-scan skips the rows that cannot
-- hold one: ASCII text without '%' and without a 1, a 3-9 and nine more digits in a row, separators aside
-- (98% of a day's rows when measured; they cost one scan for a '1' instead of the folding below):
--   t2: only when the text holds a '%': a '%' that starts no escape -> '#' (so decoding cannot make new
--       escapes), then %3X and %EF%BC%9X -> their digit, %2E -> '.', the other separators' escapes -> ' ', any
--       other escape -> '#';
--   t3: full-width digits -> ASCII, full-width '.' -> '.', other Unicode separators -> ' ', only when the
--       text is not ASCII;
--   then every dotted-quad IPv4 address -> '#' (never a phone), and the mobile pattern: an optional
--   0 / 86 / 0086 prefix (separators anywhere in it), then 1, [3-9] and nine digits, separated only between
--   runs of two or more digits, or between every digit; not part of a longer digit run.
CREATE TABLE {audit} AS SELECT
  COUNT(*) AS staged_rows,
  :rejected AS rejected_rows,
  COALESCE(SUM(leads_type NOT IN ({placeholders})), 0) AS leads_type_not_in_set,
  COALESCE(SUM(leads_type IS NULL), 0) AS leads_type_null,
  COALESCE(COUNT(*) - COUNT(DISTINCT lead_id) + SUM(lead_id IS NULL), 0) AS lead_id_not_unique_or_null,
  COALESCE(SUM(phone_cipher IS NOT NULL AND NOT phone_cipher REGEXP :e1), 0) AS phone_cipher_not_e1,
  COALESCE(SUM((phone_cipher IS NULL) <> (phone_bidx IS NULL) OR (phone_cipher IS NULL) <> (phone_bidx_kid IS NULL)
      OR (phone_cipher IS NULL) <> (phone_masked IS NULL)), 0) AS phone_cipher_without_bidx,
  COALESCE(SUM(IF(NOT t1 REGEXP '%|[^\\x{00}-\\x{7f}]|1[-_./()+ \t\r\n]*[3-9](?:[-_./()+ \t\r\n]*[0-9]){9}', 0, REGEXP_REPLACE(t3,
      '(?<![0-9])(?<![0-9][.])(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:[.](?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}(?![0-9])(?![.][0-9])',
      '#')
    REGEXP '(?<![0-9])(?:(?:0[-_./()+ \t\r\n]*0[-_./()+ \t\r\n]*8[-_./()+ \t\r\n]*6|8[-_./()+ \t\r\n]*6|0)[-_./()+ \t\r\n]*)?(?:1(?:(?<=[0-9][0-9])[-_./()+ \t\r\n]+(?=[0-9][0-9]))?[3-9](?:(?:(?<=[0-9][0-9])[-_./()+ \t\r\n]+(?=[0-9][0-9]))?[0-9]){9}|1[-_./()+ \t\r\n]+[3-9](?:[-_./()+ \t\r\n]+[0-9]){9})(?![0-9])'
  )), 0) AS plaintext_mobile,
  COALESCE(SUM(has_tool IS NOT NULL AND has_tool NOT IN (0, 1)) + SUM(is_group IS NOT NULL AND is_group NOT IN (0, 1)), 0) AS flag_not_0_1_null,
  COALESCE(SUM(join_time IS NULL OR join_time < :min_join OR join_time > :max_join), 0) AS join_time_out_of_range,
  COALESCE(SUM(ip_address IS NOT NULL AND INET6_ATON(ip_address) IS NULL), 0) AS ip_address_invalid
FROM (
  SELECT t2s.*, IF(LENGTH(t2) = CHAR_LENGTH(t2), t2,
      REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(
        REGEXP_REPLACE(t2, '[　 －＿／（）＋‐‑‒–—―−]', ' '),
        '．', '.'), '０', '0'), '１', '1'), '２', '2'), '３', '3'), '４', '4'), '５', '5'), '６', '6'), '７', '7'),
        '８', '8'), '９', '9')) AS t3
  FROM (
    SELECT t1s.*, IF(LOCATE('%', t1) = 0, t1,
        REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(t1,
          '%(?![0-9A-Fa-f][0-9A-Fa-f])', '#'),
          '(?i)%(?:3([0-9])|EF%BC%9([0-9]))', '\\1\\2'),
          '(?i)%2E', '.'),
          '(?i)%(?:2[0DF89B]|5F)', ' '),
          '%[0-9A-Fa-f][0-9A-Fa-f]', '#')) AS t2
    FROM (
      SELECT s.*, CONCAT_WS('|', union_id, window_url, IF(INET6_ATON(ip_address) IS NULL, ip_address, NULL),
                            user_agent, from_channel, phone_masked, leads_type) AS t1
      FROM {stage} s
    ) t1s
  ) t2s
) staged
