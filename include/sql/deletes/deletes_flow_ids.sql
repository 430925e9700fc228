-- Hard-delete watch: the next chunk of live leads_flow ids in key order, up to the legacy table's highest id.
-- Served by idx_live (is_deleted, lead_id): an index-only range read, no row is fetched.
SELECT lead_id FROM leads_flow
 WHERE is_deleted = 0 AND lead_id > :after AND lead_id <= :max_id
 ORDER BY lead_id
 LIMIT :limit
