-- Rejects per encryption kid of the raw phone token in raw_values ("phone": "e1:<kid>:..."). Full scan.
SELECT SUBSTR(p, 4, INSTR(SUBSTR(p, 4), ':') - 1) AS kid, COUNT(*)
FROM (SELECT json_extract(raw_values, '$.phone') AS p FROM leads_flow_reject) AS r
WHERE p LIKE 'e1:%:%'
GROUP BY SUBSTR(p, 4, INSTR(SUBSTR(p, 4), ':') - 1)
