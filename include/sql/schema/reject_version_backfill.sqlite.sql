-- Once, when leads_flow_reject gains source_version: fill it, then keep one reject per lead and version (the
-- latest) so that the unique index uq_reject_version (flow_indexes) can be built.
UPDATE leads_flow_reject SET source_version = source_updated_at WHERE source_updated_at IS NOT NULL;
DELETE FROM leads_flow_reject
 WHERE EXISTS (SELECT 1 FROM leads_flow_reject n
                WHERE n.lead_id = leads_flow_reject.lead_id AND n.source_version = leads_flow_reject.source_version
                  AND (n.rejected_at > leads_flow_reject.rejected_at
                       OR (n.rejected_at = leads_flow_reject.rejected_at AND n.etl_run_id > leads_flow_reject.etl_run_id)))
