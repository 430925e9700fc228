-- Freshness watchdog: every run of one partition (any DAG), newest first.
SELECT etl_run_id, dag_id, status, finished_at
  FROM leads_flow_run
 WHERE partition_start = :partition_start AND partition_end = :partition_end
 ORDER BY started_at DESC, etl_run_id
