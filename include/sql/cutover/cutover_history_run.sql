-- The cutover page, gate 1: the latest runs that started at the first day ever compared (window_start <=
-- :first_day) with a full match, nothing open and no failed decrypt sample; the page checks how far each reached.
SELECT {columns} FROM leads_flow_reconcile_run
 WHERE scope = 'run' AND status = 'done' AND cutover_ready = 1 AND match_rate >= 1
   AND COALESCE(phone_sample_failed, 0) = 0
   AND window_start <= :first_day
 ORDER BY started_at DESC
 LIMIT 20
