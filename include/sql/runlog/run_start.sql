-- One audit row per partition run; a retry starts its row afresh. Statuses: leads_flow.io.runlog.RunStatus.
DELETE FROM leads_flow_run WHERE etl_run_id = :etl_run_id;
INSERT INTO leads_flow_run (etl_run_id, dag_id, dag_run_id, partition_start, partition_end,
                            window_start, window_end, status, started_at)
VALUES (:etl_run_id, :dag_id, :dag_run_id, :partition_start, :partition_end,
        :window_start, :window_end, :status, :now)
