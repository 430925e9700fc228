-- Key rotation: every journal row of these leads ({ids} are int()-formatted), as {columns}: all of a lead's
-- versions, so a moved version that becomes equal to another (same fingerprint under the new blind index) is seen.
SELECT {columns} FROM leads_flow_history WHERE lead_id IN ({ids}) ORDER BY lead_id
