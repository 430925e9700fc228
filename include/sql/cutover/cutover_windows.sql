-- The cutover page (report/cutover.py): every compared day (scope 'window') from :since on, each compare of it,
-- oldest first; the page keeps the latest compare of each day. {columns} is report.cutover.WINDOW_COLUMNS.
SELECT {columns} FROM leads_flow_reconcile_run
 WHERE scope = 'window' AND window_start >= :since
 ORDER BY window_start, started_at
