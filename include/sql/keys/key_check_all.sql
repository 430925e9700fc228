-- Every recorded check value (a few rows: one per kid ever registered).
SELECT ring, kid, check_value FROM leads_flow_key_check
