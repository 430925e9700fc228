-- One batch in one statement, rows bound as (lead_id, old_cipher, new_cipher, bidx, bidx_kid) tuples
-- (SQLite names the VALUES columns column1..column5). Optimistic: a row is updated only while it still
-- carries the token that was read, so a newer concurrent write wins. rowcount = rows moved.
UPDATE leads_flow
SET phone_cipher = b.column3, phone_bidx = b.column4, phone_bidx_kid = b.column5
FROM (VALUES {placeholders}) AS b
WHERE leads_flow.lead_id = b.column1 AND leads_flow.phone_cipher = b.column2
