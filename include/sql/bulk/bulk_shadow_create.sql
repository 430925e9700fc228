-- The bulk publish's shadow: leads_flow's DDL (columns, the computed kid, the table options), its secondary
-- indexes dropped next (bulk_alter.sql) while it is empty. A shadow left by a failed attempt is dropped first.
DROP TABLE IF EXISTS {shadow};
CREATE TABLE {shadow} LIKE leads_flow
