-- Rejects per blind-index kid of the raw phone (served by idx_reject_bidx).
SELECT phone_bidx_kid, COUNT(*)
FROM leads_flow_reject
WHERE phone_bidx_kid IS NOT NULL
GROUP BY phone_bidx_kid
