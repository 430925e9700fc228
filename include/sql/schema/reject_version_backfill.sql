-- Once, when leads_flow_reject gains source_version: fill it, then keep one reject per lead and version (the
-- latest) so that the unique index uq_reject_version (flow_indexes) can be built.
UPDATE leads_flow_reject SET source_version = source_updated_at WHERE source_updated_at IS NOT NULL;
DELETE r FROM leads_flow_reject r
  JOIN leads_flow_reject n
    ON n.lead_id = r.lead_id AND n.source_version = r.source_version
   AND (n.rejected_at > r.rejected_at OR (n.rejected_at = r.rejected_at AND n.etl_run_id > r.etl_run_id))
