-- Migration (leads_flow.io.schema.MIGRATIONS): one reject per lead and source version (issue #12); filled
-- once by reject_version_backfill.sql.
ALTER TABLE leads_flow_reject ADD COLUMN source_version DATETIME NOT NULL DEFAULT '1000-01-01 00:00:00'
