-- Legacy rows whose source_updated_at = COALESCE(update_time, create_time) lies in [:start, :end).
-- Two index ranges (idx_update_time, idx_create_time) instead of COALESCE(...) so that the daily
-- incremental never scans the table.
SELECT {columns} FROM {legacy}
 WHERE update_time >= :start AND update_time < :end
UNION ALL
SELECT {columns} FROM {legacy}
 WHERE create_time >= :start AND create_time < :end AND update_time IS NULL
