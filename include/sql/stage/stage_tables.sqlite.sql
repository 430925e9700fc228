-- The staging and audit tables present now (:pattern is the LIKE pattern of leads_flow_stage_ names):
-- read by erasure (staged rows of erased leads) and, on SQLite, by the retention sweep.
SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE :pattern ESCAPE '\'
 ORDER BY name
