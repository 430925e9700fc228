-- The cutover page, gate 1: the first and last day any reconcile compared (the page cannot see leads_aggr, so
-- "the whole history" is every day a reconcile ever compared).
SELECT MIN(window_start), MAX(window_end) FROM leads_flow_reconcile_run
 WHERE scope = 'window' AND status IN ('compared', 'repaired')
