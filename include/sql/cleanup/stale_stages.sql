-- Retention (leads_flow.io.cleanup.stale_stages): the staging and audit tables created more than :hours hours
-- ago, oldest first. CREATE_TIME is in the session's time zone like NOW(); a staging table is rebuilt on every
-- attempt, so this is the age of its latest attempt. MySQL only: SQLite keeps no creation time (stage_owners.sql).
SELECT TABLE_NAME FROM information_schema.TABLES
 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE :pattern
   AND CREATE_TIME IS NOT NULL AND CREATE_TIME < NOW() - INTERVAL :hours HOUR
 ORDER BY CREATE_TIME
