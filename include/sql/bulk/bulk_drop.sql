-- Drop the shadow of a failed attempt, or the old table once its last writes were caught up.
DROP TABLE IF EXISTS {table}
