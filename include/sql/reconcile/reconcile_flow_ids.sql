-- Reconcile: leads_flow rows by primary key ({ids} are int()-formatted), for legacy rows the window
-- stream did not pair and for the field names of a drifting row.
SELECT {columns} FROM leads_flow WHERE lead_id IN ({ids})
