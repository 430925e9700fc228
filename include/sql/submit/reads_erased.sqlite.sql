-- An online write (leads_flow.submit.submit_lead) checks first: is this lead erased (issue #12)? (MySQL: a
-- locking read, reads_erased.sql; SQLite serialises writers.)
SELECT lead_id FROM leads_flow_erasure WHERE lead_id = :lead_id
