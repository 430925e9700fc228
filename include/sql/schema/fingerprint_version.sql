-- The newest fingerprint version whose recompute finished (NULL: none yet).
SELECT MAX(version) FROM leads_flow_fingerprint
