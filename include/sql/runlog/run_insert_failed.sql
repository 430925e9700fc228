-- Failure callback: a partition whose task failed before the pipeline opened its audit row (bad keyring,
-- XCom or timeout before run_start) still gets one, so the run report shows the failure and its reason.
INSERT INTO leads_flow_run (etl_run_id, dag_id, dag_run_id, partition_start, partition_end, window_start,
                            window_end, status, error, started_at, finished_at)
SELECT :etl_run_id, :dag_id, :dag_run_id, :partition_start, :partition_end, :window_start, :window_end,
       :status, :error, :now, :now
  FROM (SELECT COUNT(*) AS n FROM leads_flow_run WHERE etl_run_id = :etl_run_id) existing
 WHERE existing.n = 0
