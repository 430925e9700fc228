-- Erasure: the staging tables present now (:pattern is the LIKE pattern of leads_flow_stage_ names).
SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE :pattern ESCAPE '\'
 ORDER BY name
