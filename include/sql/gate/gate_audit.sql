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
      '(?<![0-9])(?<![0-9０-９幺两⓪①-⑨][.])(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:[.](?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}(?![0-9])(?![.][0-9０-９幺两⓪①-⑨])',
      '#')
    REGEXP '(?:(?<![0-9])(?=[0-9])|(?<![０-９幺两])(?=[０-９幺两])|(?<![⓪①-⑨])(?=[⓪①-⑨]))(?:(?:[0０⓪][-_./()+ \t\r\n]*[0０⓪][-_./()+ \t\r\n]*[8８⑧][-_./()+ \t\r\n]*[6６⑥]|[8８⑧][-_./()+ \t\r\n]*[6６⑥]|[0０⓪])[-_./()+ \t\r\n]*)?(?:[1１①](?:(?<=[0-9０-９幺两⓪①-⑨][0-9０-９幺两⓪①-⑨])[-_./()+ \t\r\n]+(?=[0-9０-９幺两⓪①-⑨][0-9０-９幺两⓪①-⑨]))?[3-9３-９③-⑨](?:(?:(?<=[0-9０-９幺两⓪①-⑨][0-9０-９幺两⓪①-⑨])[-_./()+ \t\r\n]+(?=[0-9０-９幺两⓪①-⑨][0-9０-９幺两⓪①-⑨]))?[0-9０-９⓪①-⑨]){9}|[1１①][-_./()+ \t\r\n]+[3-9３-９③-⑨](?:[-_./()+ \t\r\n]+[0-9０-９⓪①-⑨]){9}|[１幺](?:(?<=[0-9０-９幺两⓪①-⑨][0-9０-９幺两⓪①-⑨])[-_./()+ \t\r\n]+(?=[0-9０-９幺两⓪①-⑨][0-9０-９幺两⓪①-⑨]))?[３-９](?:(?:(?<=[0-9０-９幺两⓪①-⑨][0-9０-９幺两⓪①-⑨])[-_./()+ \t\r\n]+(?=[0-9０-９幺两⓪①-⑨][0-9０-９幺两⓪①-⑨]))?[０-９幺两]){9}|[１幺][-_./()+ \t\r\n]+[３-９](?:[-_./()+ \t\r\n]+[０-９幺两]){9})(?:(?<=[0-9])(?![0-9])|(?<=[０-９幺两])(?![０-９幺两])|(?<=[⓪①-⑨])(?![⓪①-⑨]))'
  )), 0) AS plaintext_mobile,
  COALESCE(SUM(has_tool IS NOT NULL AND has_tool NOT IN (0, 1)) + SUM(is_group IS NOT NULL AND is_group NOT IN (0, 1)), 0) AS flag_not_0_1_null,
  COALESCE(SUM(join_time IS NULL OR join_time < :min_join OR join_time > :max_join), 0) AS join_time_out_of_range,
  COALESCE(SUM(ip_address IS NOT NULL AND INET6_ATON(ip_address) IS NULL), 0) AS ip_address_invalid
FROM (
  SELECT t2s.*, IF(LENGTH(t2) = CHAR_LENGTH(t2), t2,
      REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(IF(t2 REGEXP '[²፪₂②⑵⒉⓶❷➁➋𐩁𐹡𑁓🄃³፫₃③⑶⒊⓷❸➂➌𐩂𐹢𑁔🄄¹፩᧚₁①⑴⒈⓵❶➀➊𐩀𐹠𑁒🄂፬⁴₄④⑷⒋⓸❹➃➍𐩃𐹣𑁕🄅፭⁵₅⑤⑸⒌⓹❺➄➎𐹤𑁖🄆፮⁶₆⑥⑹⒍⓺❻➅➏𐹥𑁗🄇፯⁷₇⑦⑺⒎⓻❼➆➐𐹦𑁘🄈፰⁸₈⑧⑻⒏⓼❽➇➑𐹧𑁙🄉፱⁹₉⑨⑼⒐⓽❾➈➒𐹨𑁚🄊⁰₀⓪⓿🄀🄁]', REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(t2, '[⁰₀⓿🄀🄁]', '⓪'), '[¹፩᧚₁⑴⒈⓵❶➀➊𐩀𐹠𑁒🄂]', '①'), '[²፪₂⑵⒉⓶❷➁➋𐩁𐹡𑁓🄃]', '②'), '[³፫₃⑶⒊⓷❸➂➌𐩂𐹢𑁔🄄]', '③'), '[፬⁴₄⑷⒋⓸❹➃➍𐩃𐹣𑁕🄅]', '④'), '[፭⁵₅⑸⒌⓹❺➄➎𐹤𑁖🄆]', '⑤'), '[፮⁶₆⑹⒍⓺❻➅➏𐹥𑁗🄇]', '⑥'), '[፯⁷₇⑺⒎⓻❼➆➐𐹦𑁘🄈]', '⑦'), '[፰⁸₈⑻⒏⓼❽➇➑𐹧𑁙🄉]', '⑧'), '[፱⁹₉⑼⒐⓽❾➈➒𐹨𑁚🄊]', '⑨'), t2),
        '[\\x{AD}\\x{600}-\\x{605}\\x{61C}\\x{6DD}\\x{70F}\\x{890}-\\x{891}\\x{8E2}\\x{180E}\\x{200B}-\\x{200F}\\x{202A}-\\x{202E}\\x{2060}-\\x{2064}\\x{2066}-\\x{206F}\\x{20E3}\\x{FE00}-\\x{FE0F}\\x{FEFF}\\x{FFF9}-\\x{FFFB}\\x{110BD}\\x{110CD}\\x{13430}-\\x{13438}\\x{1BCA0}-\\x{1BCA3}\\x{1D173}-\\x{1D17A}\\x{E0001}\\x{E0020}-\\x{E007F}]', ''),
        '[\\x{A0}\\x{B7}\\x{1680}\\x{2000}-\\x{200A}\\x{2010}-\\x{2015}\\x{2022}\\x{2027}\\x{202F}\\x{205F}\\x{2212}\\x{3000}\\x{30FB}\\x{FF08}-\\x{FF09}\\x{FF0B}\\x{FF0D}\\x{FF0F}\\x{FF3F}\\x{FF65}]', ' '), '．', '.'), '０', '0'), '１', '1'), '２', '2'), '３', '3'), '４', '4'), '５', '5'), '６', '6'), '７', '7'), '８', '8'), '９', '9'), '〇', '０'), '零', '０'), '一', '１'), '二', '２'), '三', '３'), '四', '４'), '五', '５'), '六', '６'), '七', '７'), '八', '８'), '九', '９')) AS t3
  FROM (
    SELECT t1s.*, IF(LOCATE('%', t1) = 0, t1,
        REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(UPPER(t1), '%(?![0-9A-F][0-9A-F])', '#'),
          '%(?:C2%AD|D8%(?:8[0-5]|9C)|DB%9D|DC%8F|E0%A2%9[0-1]|E0%A3%A2|E1%A0%8E|E2%80%(?:8[B-F]|A[A-E])|E2%81%(?:A[0-4]|A[6-F])|E2%83%A3|EF%B8%8[0-F]|EF%BB%BF|EF%BF%B[9-B]|F0%91%82%BD|F0%91%83%8D|F0%93%90%B[0-8]|F0%9B%B2%A[0-3]|F0%9D%85%B[3-A]|F3%A0%80%(?:81|A[0-F]|B[0-F])|F3%A0%81%(?:8[0-F]|9[0-F]|A[0-F]|B[0-F]))', ''),
          '%(?:C2%(?:A0|B7)|E1%9A%80|E2%80%(?:8[0-A]|9[0-5]|A2|A7|AF)|E2%81%9F|E2%88%92|E3%80%80|E3%83%BB|EF%BC%(?:8[8-9]|8B|8D|8F|BF)|EF%BD%A5)', ' '), '%E3%80%87', '〇'), '%E9%9B%B6', '零'), '%E4%B8%80', '一'), '%E4%BA%8C', '二'), '%E4%B8%89', '三'), '%E5%9B%9B', '四'), '%E4%BA%94', '五'), '%E5%85%AD', '六'), '%E4%B8%83', '七'), '%E5%85%AB', '八'), '%E4%B9%9D', '九'), '%E5%B9%BA', '幺'), '%E4%B8%A4', '两'), '%EF%BC%8E', '.'),
          '%(?:3([0-9])|EF%BC%9([0-9]))', '\\1\\2'),
          '%2E', '.'),
          '%(?:2[0DF89B]|5F)', ' '),
          '%[0-9A-F][0-9A-F]', '#')) AS t2
    FROM (
      SELECT s.*, CONCAT_WS('|', union_id, window_url, IF(INET6_ATON(ip_address) IS NULL, ip_address, NULL),
                            user_agent, from_channel, phone_masked, leads_type) AS t1
      FROM {stage} s
    ) t1s
  ) t2s
) staged
