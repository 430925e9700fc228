-- Leads of one WeChat unionId (ref on idx_union_id). The MySQL column is _ci: the caller keeps exact matches.
SELECT {columns} FROM leads_flow
 WHERE union_id = :union_id
   AND (is_deleted = 0 OR :include_deleted = 1)
 ORDER BY lead_id
