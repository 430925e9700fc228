-- Rows of leads_flow per blind-index kid (served by idx_phone_bidx).
SELECT phone_bidx_kid, COUNT(*)
FROM leads_flow
WHERE phone_bidx_kid IS NOT NULL
GROUP BY phone_bidx_kid
