-- Journal rows per blind-index kid. Full scan.
SELECT phone_bidx_kid, COUNT(*)
FROM leads_flow_history
WHERE phone_bidx_kid IS NOT NULL
GROUP BY phone_bidx_kid
