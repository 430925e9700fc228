-- Erasure: every stored reject of these leads, of any run ({ids} are int()-formatted).
DELETE FROM leads_flow_reject WHERE lead_id IN ({ids})
