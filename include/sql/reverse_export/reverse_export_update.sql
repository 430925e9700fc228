-- Rollback: a lead leads_aggr holds an older version of. Only while it still does (a legacy write since the read
-- wins); update_time set explicitly (leads_aggr's ON UPDATE CURRENT_TIMESTAMP would otherwise stamp the clock).
-- create_time and the columns leads_flow does not carry are left as they are.
UPDATE {legacy}
   SET phone = :phone, unionId = :union_id, window_url = :window_url, ip_address = :ip_address,
       user_agent = :user_agent, from_channel = :from_channel, has_tool = :has_tool, is_group = :is_group,
       join_time = :join_time, leads_type = :leads_type, main_business_id = :main_business_id,
       is_deleted = :is_deleted, update_time = :update_time
 WHERE id = :id AND COALESCE(update_time, create_time) < :update_time
