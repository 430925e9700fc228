-- Failure callback: mark the partition failed unless it was published; keep the error the task recorded
-- itself (run_failed) and the gate_failed status the gate set.
UPDATE leads_flow_run
   SET status = CASE WHEN status = :gate_failed THEN status ELSE :status END,
       error = COALESCE(error, :error),
       finished_at = COALESCE(finished_at, :now)
 WHERE etl_run_id = :etl_run_id AND status NOT IN (:published, :dry_run)
