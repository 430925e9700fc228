-- Legacy rows whose source_updated_at = COALESCE(update_time, create_time) lies in [:start, :end).
-- Two index ranges (idx_update_time, idx_create_time) instead of COALESCE(...) so that the daily
-- incremental never scans the table. A zero update_time (MariaDB allows it in legacy data) reads as
-- NULL, so such a row belongs to its create_time, like update_time IS NULL.
SELECT {columns} FROM {legacy}
 WHERE update_time >= :start AND update_time < :end
UNION ALL
SELECT {columns} FROM {legacy}
 WHERE create_time >= :start AND create_time < :end AND (update_time IS NULL OR update_time < '1000-01-01')
