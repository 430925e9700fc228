-- Reconcile: which of these ids still exist in the legacy table (primary key; {ids} are int()-formatted).
-- Any version of the row counts: only a row that is gone entirely is a hard delete.
SELECT id FROM {legacy} WHERE id IN ({ids})
