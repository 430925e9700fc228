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
      '(?<![0-9])(?<![0-9０-９幺两⓪①-⑨][.])(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:[.](?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}(?![0-9])(?![.][0-9０-９幺两⓪①-⑨])',
      '#')
    REGEXP '(?:(?<![0-9])(?=[0-9])|(?<![０-９幺两])(?=[０-９幺两])|(?<![⓪①-⑨])(?=[⓪①-⑨]))(?:(?:[0０⓪][-_./()+ \t\r\n]*[0０⓪][-_./()+ \t\r\n]*[8８⑧][-_./()+ \t\r\n]*[6６⑥]|[8８⑧][-_./()+ \t\r\n]*[6６⑥]|[0０⓪])[-_./()+ \t\r\n]*)?(?:[1１①](?:(?<=[0-9０-９幺两⓪①-⑨][0-9０-９幺两⓪①-⑨])[-_./()+ \t\r\n]+(?=[0-9０-９幺两⓪①-⑨][0-9０-９幺两⓪①-⑨]))?[3-9３-９③-⑨](?:(?:(?<=[0-9０-９幺两⓪①-⑨][0-9０-９幺两⓪①-⑨])[-_./()+ \t\r\n]+(?=[0-9０-９幺两⓪①-⑨][0-9０-９幺两⓪①-⑨]))?[0-9０-９⓪①-⑨]){9}|[1１①][-_./()+ \t\r\n]+[3-9３-９③-⑨](?:[-_./()+ \t\r\n]+[0-9０-９⓪①-⑨]){9}|[１幺](?:(?<=[0-9０-９幺两⓪①-⑨][0-9０-９幺两⓪①-⑨])[-_./()+ \t\r\n]+(?=[0-9０-９幺两⓪①-⑨][0-9０-９幺两⓪①-⑨]))?[３-９](?:(?:(?<=[0-9０-９幺两⓪①-⑨][0-9０-９幺两⓪①-⑨])[-_./()+ \t\r\n]+(?=[0-9０-９幺两⓪①-⑨][0-9０-９幺两⓪①-⑨]))?[０-９幺两]){9}|[１幺][-_./()+ \t\r\n]+[３-９](?:[-_./()+ \t\r\n]+[０-９幺两]){9})(?:(?<=[0-9])(?![0-9])|(?<=[０-９幺两])(?![０-９幺两])|(?<=[⓪①-⑨])(?![⓪①-⑨]))'
  ), 0) AS plaintext_mobile,
  COALESCE(SUM(has_tool IS NOT NULL AND has_tool NOT IN (0, 1)) + SUM(is_group IS NOT NULL AND is_group NOT IN (0, 1)), 0) AS flag_not_0_1_null,
  COALESCE(SUM(join_time IS NULL OR join_time < :min_join OR join_time > :max_join), 0) AS join_time_out_of_range,
  COALESCE(SUM(ip_address IS NOT NULL AND (ip_address = '' OR ip_address GLOB '*[^0-9a-fA-F.:]*')), 0) AS ip_address_invalid
FROM (
  -- t3: Chinese numerals -> full-width digits (every full-width digit of the text is ASCII by now, so these stand
  -- for Chinese numerals alone); 幺 and 两 stay as they are
  SELECT t3bs.*, CASE WHEN LENGTH(CAST(t3b AS BLOB)) = LENGTH(t3b) THEN t3b ELSE
      REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(t3b, '〇', '０'), '零', '０'), '一', '１'), '二', '２'), '三', '３'), '四', '４'), '五', '５'), '六', '６'), '七', '７'), '八', '８'), '九', '９') END AS t3
  FROM (
    SELECT t3as.*, CASE WHEN LENGTH(CAST(t3a AS BLOB)) = LENGTH(t3a) THEN t3a ELSE
        REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(t3a, '０', '0'), '１', '1'), '２', '2'), '３', '3'), '４', '4'), '５', '5'), '６', '6'), '７', '7'), '８', '8'), '９', '9') END AS t3b
    FROM (
      -- t3a: digit signs -> ⓪①-⑨ by value, invisible characters dropped, Unicode separators -> ' '
      SELECT t2s.*, CASE WHEN LENGTH(CAST(t2 AS BLOB)) = LENGTH(t2) THEN t2 ELSE
          REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(CASE WHEN t2 REGEXP '[²፪₂②⑵⒉⓶❷➁➋𐩁𐹡𑁓🄃³፫₃③⑶⒊⓷❸➂➌𐩂𐹢𑁔🄄¹፩᧚₁①⑴⒈⓵❶➀➊𐩀𐹠𑁒🄂፬⁴₄④⑷⒋⓸❹➃➍𐩃𐹣𑁕🄅፭⁵₅⑤⑸⒌⓹❺➄➎𐹤𑁖🄆፮⁶₆⑥⑹⒍⓺❻➅➏𐹥𑁗🄇፯⁷₇⑦⑺⒎⓻❼➆➐𐹦𑁘🄈፰⁸₈⑧⑻⒏⓼❽➇➑𐹧𑁙🄉፱⁹₉⑨⑼⒐⓽❾➈➒𐹨𑁚🄊⁰₀⓪⓿🄀🄁]'
            THEN REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(t2, '[⁰₀⓿🄀🄁]', '⓪'), '[¹፩᧚₁⑴⒈⓵❶➀➊𐩀𐹠𑁒🄂]', '①'), '[²፪₂⑵⒉⓶❷➁➋𐩁𐹡𑁓🄃]', '②'), '[³፫₃⑶⒊⓷❸➂➌𐩂𐹢𑁔🄄]', '③'), '[፬⁴₄⑷⒋⓸❹➃➍𐩃𐹣𑁕🄅]', '④'), '[፭⁵₅⑸⒌⓹❺➄➎𐹤𑁖🄆]', '⑤'), '[፮⁶₆⑹⒍⓺❻➅➏𐹥𑁗🄇]', '⑥'), '[፯⁷₇⑺⒎⓻❼➆➐𐹦𑁘🄈]', '⑦'), '[፰⁸₈⑻⒏⓼❽➇➑𐹧𑁙🄉]', '⑧'), '[፱⁹₉⑼⒐⓽❾➈➒𐹨𑁚🄊]', '⑨')
            ELSE t2 END,
            '[\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890-\u0891\u08E2\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\u20E3\uFE00-\uFE0F\uFEFF\uFFF9-\uFFFB\U000110BD\U000110CD\U00013430-\U00013438\U0001BCA0-\U0001BCA3\U0001D173-\U0001D17A\U000E0001\U000E0020-\U000E007F]', ''),
            '[\u00A0\u00B7\u1680\u2000-\u200A\u2010-\u2015\u2022\u2027\u202F\u205F\u2212\u3000\u30FB\uFF08-\uFF09\uFF0B\uFF0D\uFF0F\uFF3F\uFF65]', ' '),
            '．', '.') END AS t3a
      FROM (
        SELECT t2bs.*, CASE WHEN INSTR(t2b, '%') = 0 THEN t2b ELSE
            REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(t2b,
            '%(?:3([0-9])|EF%BC%9([0-9]))', '\1\2'),
            '%2E', '.'),
            '%(?:2[0DF89B]|5F)', ' '),
            '%[0-9A-F][0-9A-F]', '#') END AS t2
        FROM (
          SELECT t2as.*, CASE WHEN INSTR(t2a, '%') = 0 THEN t2a ELSE
              REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(t2a, '%E3%80%87', '〇'), '%E9%9B%B6', '零'), '%E4%B8%80', '一'), '%E4%BA%8C', '二'), '%E4%B8%89', '三'), '%E5%9B%9B', '四'), '%E4%BA%94', '五'), '%E5%85%AD', '六'), '%E4%B8%83', '七'), '%E5%85%AB', '八'), '%E4%B9%9D', '九'), '%E5%B9%BA', '幺'), '%E4%B8%A4', '两') END AS t2b
          FROM (
            SELECT t1s.*, CASE WHEN INSTR(t1, '%') = 0 THEN t1 ELSE
                REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(UPPER(t1), '%(?![0-9A-F][0-9A-F])', '#'),
            '%(?:C2%AD|D8%(?:8[0-5]|9C)|DB%9D|DC%8F|E0%A2%9[0-1]|E0%A3%A2|E1%A0%8E|E2%80%(?:8[B-F]|A[A-E])|E2%81%(?:A[0-4]|A[6-F])|E2%83%A3|EF%B8%8[0-F]|EF%BB%BF|EF%BF%B[9-B]|F0%91%82%BD|F0%91%83%8D|F0%93%90%B[0-8]|F0%9B%B2%A[0-3]|F0%9D%85%B[3-A]|F3%A0%80%(?:81|A[0-F]|B[0-F])|F3%A0%81%(?:8[0-F]|9[0-F]|A[0-F]|B[0-F]))', ''),
            '%(?:C2%(?:A0|B7)|E1%9A%80|E2%80%(?:8[0-A]|9[0-5]|A2|A7|AF)|E2%81%9F|E2%88%92|E3%80%80|E3%83%BB|EF%BC%(?:8[8-9]|8B|8D|8F|BF)|EF%BD%A5)', ' '),
            '%EF%BC%8E', '.') END AS t2a
            FROM (
              SELECT s.*, COALESCE(union_id, '') || '|' || COALESCE(window_url, '') || '|' || COALESCE(ip_address, '')
                          || '|' || COALESCE(user_agent, '') || '|' || COALESCE(from_channel, '') || '|'
                          || COALESCE(phone_masked, '') || '|' || COALESCE(leads_type, '') AS t1
              FROM {stage} s
            ) t1s
          ) t2as
        ) t2bs
      ) t2s
    ) t3as
  ) t3bs
) staged
