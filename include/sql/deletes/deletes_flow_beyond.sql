-- Hard-delete watch: live leads_flow ids above the legacy table's highest id (idx_live range). They are never
-- marked (a newer lead, or one written only to leads_flow), but they count in the guard: a legacy table whose
-- tail is missing must fail the run like any other partial read.
SELECT COUNT(*) FROM leads_flow WHERE is_deleted = 0 AND lead_id > :max_id
