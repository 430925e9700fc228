-- One page of a channel's leads over [join_from, join_to), keyset-paginated on (join_time, lead_id).
-- Range on idx_channel_join (from_channel, join_time); InnoDB appends the primary key to the secondary
-- index, so the ORDER BY is the index order: no filesort, and a page reads about :page_size rows however
-- large the range. First page: after_join_time = join_from, after_lead_id = -1 (the cursor test is true).
-- :range_start = the later of join_from and after_join_time.
SELECT {columns} FROM leads_flow
 WHERE from_channel = :from_channel
   AND join_time >= :range_start AND join_time < :join_to
   AND (join_time > :after_join_time OR lead_id > :after_lead_id)
   AND (is_deleted = 0 OR :include_deleted = 1)
 ORDER BY join_time, lead_id
 LIMIT :page_size
