-- Rows of leads_flow per encryption kid (phone_enc_kid: the kid of the e1 token e1:<kid>:<body>), counted on
-- idx_enc_kid.
SELECT phone_enc_kid, COUNT(*)
FROM leads_flow
WHERE phone_enc_kid IS NOT NULL
GROUP BY phone_enc_kid
