-- Erasure: which of these leads are already recorded as erased ({ids} are int()-formatted).
SELECT lead_id FROM leads_flow_erasure WHERE lead_id IN ({ids})
