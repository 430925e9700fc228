-- Blind-index kids of leads_flow: a loose scan of idx_phone_bidx (one dive per kid).
SELECT DISTINCT phone_bidx_kid FROM leads_flow WHERE phone_bidx_kid IS NOT NULL
