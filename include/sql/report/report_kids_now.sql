-- The run report's key-rotation page: rows of leads_flow per encryption kid and per blind-index kid, now
-- (kids and counts only; loose scans of idx_enc_kid and idx_phone_bidx on MySQL).
SELECT 'enc' AS key_kind, phone_enc_kid AS kid, COUNT(*) AS row_count
  FROM leads_flow WHERE phone_enc_kid IS NOT NULL GROUP BY phone_enc_kid
UNION ALL
SELECT 'bidx' AS key_kind, phone_bidx_kid AS kid, COUNT(*) AS row_count
  FROM leads_flow WHERE phone_bidx_kid IS NOT NULL GROUP BY phone_bidx_kid
ORDER BY key_kind DESC, kid
