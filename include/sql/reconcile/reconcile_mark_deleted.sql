-- Hard deletes: leads gone from leads_aggr are kept in leads_flow and marked deleted, never deleted.
-- content_hash is cleared so that, should the legacy row come back unchanged, the sync's same-timestamp
-- rule sees different content and restores it.
UPDATE leads_flow
   SET is_deleted = 1, content_hash = NULL, etl_run_id = :etl_run_id, etl_loaded_at = :now
 WHERE is_deleted = 0
   AND lead_id IN (SELECT lead_id FROM leads_flow_drift
                    WHERE reconcile_run_id = :run_id AND window_start = :window_start
                      AND drift_class = 'missing_in_legacy' AND next_action = 'marked_deleted')
