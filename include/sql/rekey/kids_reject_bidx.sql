-- Blind-index kids beside the rejects' raw tokens: a loose scan of idx_reject_bidx.
SELECT DISTINCT phone_bidx_kid FROM leads_flow_reject WHERE phone_bidx_kid IS NOT NULL
