-- One batch in one statement, rows bound as (lead_id, old_hash, new_hash) tuples; the first SELECT only names
-- the columns (lead 0 matches nothing). Optimistic: a row is updated only while it still carries the hash that
-- was read, so a concurrent write (already under the new fingerprint) wins.
UPDATE leads_flow AS f
JOIN (
  SELECT 0 AS lead_id, 0 AS old_hash, 0 AS new_hash
  UNION ALL VALUES {placeholders}
) AS b ON f.lead_id = b.lead_id AND f.content_hash = b.old_hash
SET f.content_hash = b.new_hash
