-- The current leads_flow into the primary-key-only shadow, in primary-key order (appends, no page splits).
-- The session reads READ COMMITTED (bulk_session.sql): a consistent read that locks nothing.
INSERT INTO {shadow} ({flow_columns})
SELECT {flow_columns} FROM leads_flow ORDER BY lead_id
