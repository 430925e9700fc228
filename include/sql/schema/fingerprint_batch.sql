-- The next batch of leads_flow rows with a stored fingerprint (primary-key order, after :after), read as the
-- mapped row lead_id .. content_hash. A NULL content_hash stays NULL: reconcile's repair cleared it on purpose
-- so that the next upsert rewrites the row.
SELECT {columns}
FROM leads_flow
WHERE lead_id > :after AND content_hash IS NOT NULL
ORDER BY lead_id
LIMIT :batch
