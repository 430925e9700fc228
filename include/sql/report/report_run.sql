-- Run report: one partition run with everything the pipeline recorded about it.
SELECT etl_run_id, dag_id, dag_run_id, partition_start, partition_end, window_start, window_end, status,
       extracted, staged, rejected, coerced, published, gate_success, gate_failed_checks, error,
       started_at, finished_at, rejects_by_reason, gate_results, timings
  FROM leads_flow_run
 WHERE etl_run_id = :etl_run_id
