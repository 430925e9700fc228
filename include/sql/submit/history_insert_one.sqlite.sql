-- The change journal's part of an online write (reads.submit_lead, same transaction as the upsert): the version
-- just submitted, unless already recorded.
INSERT OR IGNORE INTO leads_flow_history ({flow_columns}) VALUES ({flow_values})
