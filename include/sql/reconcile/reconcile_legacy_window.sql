-- Reconcile, legacy side: the rows whose source_updated_at = COALESCE(update_time, create_time) lies in
-- [:start, :end) (no overlap: each row belongs to exactly one window), ordered by id for the merge-join
-- with leads_flow. Same two index ranges as extract_window.sql; streamed by a server-side cursor.
SELECT {columns} FROM {legacy}
 WHERE update_time >= :start AND update_time < :end
UNION ALL
SELECT {columns} FROM {legacy}
 WHERE create_time >= :start AND create_time < :end AND update_time IS NULL
ORDER BY id
