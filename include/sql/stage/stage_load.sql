-- Bulk load of one chunk written by the stage module (tab-separated, MySQL escapes, \N for NULL).
LOAD DATA LOCAL INFILE :path INTO TABLE {stage}
  CHARACTER SET utf8mb4
  FIELDS TERMINATED BY '\t' ESCAPED BY '\\'
  LINES TERMINATED BY '\n'
  ({columns})
