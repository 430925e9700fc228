-- Per-day records of the bulk publish: a bulk partition's rejects by day of source_updated_at (NULL: the
-- legacy row had no usable time; counted in the bulk partition's own row only).
SELECT DATE(source_updated_at), COUNT(*) FROM leads_flow_reject WHERE etl_run_id = :etl_run_id
 GROUP BY DATE(source_updated_at)
