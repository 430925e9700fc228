-- Rollback (lifecycle/reverse_export.py): the next batch of leads_flow rows, in primary-key order after :after,
-- whose version is from the cutover mark on (source_updated_at >= :since, before :until), except erased leads
-- (their personal values are gone and must not reach leads_aggr again). Which of them leads_aggr lacks or holds
-- older is decided against leads_aggr itself (reverse_export_legacy_state.sql), on the writer's connection.
SELECT {columns}
  FROM leads_flow f
 WHERE f.lead_id > :after
   AND f.source_updated_at >= :since AND f.source_updated_at < :until
   AND NOT EXISTS (SELECT 1 FROM leads_flow_erasure e WHERE e.lead_id = f.lead_id)
 ORDER BY f.lead_id
 LIMIT :batch
