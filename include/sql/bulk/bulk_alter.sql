-- One ALTER TABLE over the shadow: drop its secondary indexes while empty, or add them all back once the rows
-- are in (InnoDB builds each by one sorted pass). {columns}: the index clauses io/bulk.py builds from the
-- names bulk_flow_indexes.sql returned, each checked as an identifier.
ALTER TABLE {shadow} {columns}
