-- Journal rows per encryption kid of their phone token (e1:<kid>:<body>). Full scan.
SELECT SUBSTR(phone_cipher, 4, INSTR(SUBSTR(phone_cipher, 4), ':') - 1) AS kid, COUNT(*)
FROM leads_flow_history
WHERE phone_cipher LIKE 'e1:%:%'
GROUP BY SUBSTR(phone_cipher, 4, INSTR(SUBSTR(phone_cipher, 4), ':') - 1)
