-- The change journal's part of an online write (reads.submit_lead, same transaction as the upsert): the version
-- just submitted, unless already recorded (IGNORE skips only that: the same values fitted leads_flow first).
INSERT IGNORE INTO leads_flow_history ({flow_columns}) VALUES ({flow_values})
