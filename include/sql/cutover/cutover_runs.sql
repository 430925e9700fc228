-- The cutover page: the latest reconcile runs (scope 'run': a run's range and its totals), newest first.
SELECT {columns} FROM leads_flow_reconcile_run
 WHERE scope = 'run'
 ORDER BY started_at DESC
 LIMIT :limit
