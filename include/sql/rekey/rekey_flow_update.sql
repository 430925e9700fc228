-- One batch in one statement, rows bound as (lead_id, old_cipher, new_cipher, bidx, bidx_kid) tuples; the first
-- SELECT only names the columns (lead 0 with an empty token matches nothing). Optimistic: a row is updated only
-- while it still carries the token that was read, so a newer concurrent write wins. rowcount = rows moved.
UPDATE leads_flow AS f
JOIN (
  SELECT 0 AS lead_id, '' AS old_cipher, '' AS new_cipher, 0 AS bidx, '' AS bidx_kid
  UNION ALL VALUES {placeholders}
) AS b ON f.lead_id = b.lead_id AND f.phone_cipher = CAST(b.old_cipher AS BINARY)
SET f.phone_cipher = b.new_cipher, f.phone_bidx = b.bidx, f.phone_bidx_kid = b.bidx_kid
