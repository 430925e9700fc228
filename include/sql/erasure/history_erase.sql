-- Erasure: every journal row of these leads ({ids} are int()-formatted). The tombstone in leads_flow remains.
DELETE FROM leads_flow_history WHERE lead_id IN ({ids})
