-- Rows of leads_flow per encryption kid (the kid of the e1 token: e1:<kid>:<body>). Full scan.
SELECT SUBSTR(phone_cipher, 4, INSTR(SUBSTR(phone_cipher, 4), ':') - 1) AS kid, COUNT(*)
FROM leads_flow
WHERE phone_cipher LIKE 'e1:%:%'
GROUP BY SUBSTR(phone_cipher, 4, INSTR(SUBSTR(phone_cipher, 4), ':') - 1)
