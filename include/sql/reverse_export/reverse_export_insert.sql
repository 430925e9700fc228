-- Rollback: a lead leads_aggr lacks, in leads_aggr's own shape ({columns}: the legacy columns the pipeline reads,
-- mapping.LEGACY_COLUMNS; id explicit: it is the lead_id). sales_name, follow_id, ad_id and campaign_id are not in
-- leads_flow: they stay NULL.
INSERT INTO {legacy} ({columns}) VALUES ({placeholders})
