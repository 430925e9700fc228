-- The swap: one atomic RENAME; readers see the old table or the complete, indexed one.
RENAME TABLE leads_flow TO {old}, {shadow} TO leads_flow
