-- An online write (leads_flow.submit.submit_lead) checks first: is this lead erased (issue #12)? A locking read:
-- its shared lock (on the row, or on the gap where it would be) holds back an erasure of this lead until the
-- write commits, so an erasure committing between this check and the upsert cannot be overwritten; the
-- erasure then tombstones what was written (or a deadlock rolls one back, and its retry sees the other).
SELECT lead_id FROM leads_flow_erasure WHERE lead_id = :lead_id LOCK IN SHARE MODE
