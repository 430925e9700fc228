-- Every column, generated ones too (pragma_table_info leaves those out).
SELECT name FROM pragma_table_xinfo(:table)
