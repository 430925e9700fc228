-- The staging and audit tables present now (:pattern is the LIKE pattern of leads_flow_stage_ names):
-- read by erasure (staged rows of erased leads) and, on SQLite, by the retention sweep.
SELECT TABLE_NAME FROM information_schema.TABLES
 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE :pattern
 ORDER BY TABLE_NAME
