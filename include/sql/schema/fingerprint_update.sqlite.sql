-- One batch in one statement, rows bound as (lead_id, old_hash, new_hash) tuples (SQLite names the VALUES
-- columns column1..column3). Optimistic: a row is updated only while it still carries the hash that was read,
-- so a concurrent write (already under the new fingerprint) wins.
UPDATE leads_flow
SET content_hash = b.column3
FROM (VALUES {placeholders}) AS b
WHERE leads_flow.lead_id = b.column1 AND leads_flow.content_hash = b.column2
