-- History-sized windows: a slice of the table by primary key, read sequentially, filtered to the window.
-- Cheaper than the index ranges of extract_window.sql once the window holds a large share of the table
-- (each index entry would cost a random read of its row).
SELECT {columns} FROM {legacy} IGNORE INDEX (idx_update_time, idx_create_time)
 WHERE id >= :id_from AND id < :id_to
   AND ((update_time >= :start AND update_time < :end)
        OR ((update_time IS NULL OR update_time < '1000-01-01') AND create_time >= :start AND create_time < :end))
