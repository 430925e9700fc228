-- Rollback: the version leads_aggr holds of these leads ({ids} are int()-formatted): the same
-- COALESCE(update_time, create_time) the sync reads as source_updated_at.
SELECT id, COALESCE(update_time, create_time) FROM {legacy} WHERE id IN ({ids})
