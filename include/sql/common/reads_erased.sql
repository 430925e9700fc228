-- An online write (leads_flow.reads.submit_lead) checks first: is this lead erased (issue #12)?
SELECT lead_id FROM leads_flow_erasure WHERE lead_id = :lead_id
