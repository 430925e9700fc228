-- Legacy rows by primary key (repair of drifting ids by the reconcile DAG). {ids} is a list of integers
-- formatted by the caller after int() conversion.
SELECT {columns} FROM {legacy} WHERE id IN ({ids})
