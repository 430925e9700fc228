-- The secondary indexes of leads_flow as the server holds them (flow_ddl.sql, flow_indexes.sql and whatever a
-- migration added): the shadow is built without them and gets the same ones back in one ALTER TABLE.
SELECT index_name, non_unique, column_name, sub_part
  FROM information_schema.statistics
 WHERE table_schema = DATABASE() AND table_name = 'leads_flow' AND index_name <> 'PRIMARY'
 ORDER BY index_name, seq_in_index
