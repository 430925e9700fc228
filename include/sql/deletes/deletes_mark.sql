-- Hard-delete watch: leads gone from leads_aggr are kept in leads_flow and marked deleted, never deleted
-- ({ids} are int()-formatted). content_hash is cleared as in reconcile_mark_deleted.
UPDATE leads_flow
   SET is_deleted = 1, content_hash = NULL, etl_run_id = :etl_run_id, etl_loaded_at = :now
 WHERE is_deleted = 0 AND lead_id IN ({ids})
