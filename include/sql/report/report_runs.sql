-- Run report: recent partition runs, newest first. A NULL filter matches every row.
SELECT etl_run_id, dag_id, dag_run_id, partition_start, partition_end, window_start, window_end, status,
       extracted, staged, rejected, coerced, published, gate_success, gate_failed_checks, error,
       started_at, finished_at
  FROM leads_flow_run
 WHERE (:status IS NULL OR status = :status)
   AND (:dag_id IS NULL OR dag_id = :dag_id)
   AND (:dag_run_id IS NULL OR dag_run_id = :dag_run_id)
 ORDER BY started_at DESC, partition_start DESC, etl_run_id
 LIMIT :limit
