-- Whether a table exists in the flow database (the shadow or the old table left by an earlier attempt).
SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = :table
