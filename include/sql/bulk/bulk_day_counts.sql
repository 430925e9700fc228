-- Per-day records of the bulk publish: a staging table's rows by day of source_updated_at.
SELECT DATE(source_updated_at), COUNT(*) FROM {stage} GROUP BY DATE(source_updated_at)
