-- Erasure: the staging tables present now (:pattern is the LIKE pattern of leads_flow_stage_ names).
SELECT TABLE_NAME FROM information_schema.TABLES
 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE :pattern
 ORDER BY TABLE_NAME
