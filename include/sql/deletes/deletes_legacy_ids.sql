-- Hard-delete watch: legacy ids in one primary-key range (only the key is read; any version of the row counts).
SELECT id FROM {legacy} WHERE id >= :lo AND id <= :hi
