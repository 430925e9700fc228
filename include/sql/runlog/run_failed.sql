-- A task's own failure: its reason, unless the partition was already published.
UPDATE leads_flow_run
   SET status = :status, error = :error, finished_at = :now
 WHERE etl_run_id = :etl_run_id AND status NOT IN (:published, :dry_run)
