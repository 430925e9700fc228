-- Rows in a window (for the progress ETA): the same two index ranges as extract_window.sql.
SELECT (SELECT COUNT(*) FROM {legacy} WHERE update_time >= :start AND update_time < :end)
     + (SELECT COUNT(*) FROM {legacy} WHERE create_time >= :start AND create_time < :end AND (update_time IS NULL OR update_time < '1000-01-01'))
