-- Rollback: a lead leads_aggr lacks, in leads_aggr's own shape (id explicit: it is the lead_id). sales_name,
-- follow_id, ad_id and campaign_id are not in leads_flow: they stay NULL.
INSERT INTO {legacy} (id, phone, unionId, window_url, ip_address, user_agent, from_channel, has_tool, is_group,
                      join_time, leads_type, main_business_id, create_time, update_time, is_deleted)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
