-- The change journal (issue #15): one row per distinct version of a lead, appended by the publish (same
-- transaction) and by the online submit_lead; never updated except by key rotation (tokens and blind indexes
-- move to the active kids) and never deleted except by erasure. The columns are leads_flow's: the mapped
-- fields, the phone only as token, blind index, kid and mask, and who wrote the version (etl_run_id, when).
-- The unique key is the version's identity, so a rerun adds nothing (INSERT IGNORE) and a lead's history is one
-- range read on it. The rows are clustered by when they were recorded: a publish appends its partition at the
-- end of the table, where a (lead_id, ...) primary key scattered every row of a day's partition over the whole
-- journal, a page read and write per row once it outgrew the buffer pool (make bench-history). No
-- AUTO_INCREMENT: its table lock on INSERT ... SELECT would hold online writers for a whole publish.
CREATE TABLE IF NOT EXISTS leads_flow_history (
  lead_id BIGINT UNSIGNED NOT NULL,
  phone_cipher VARCHAR(96) CHARACTER SET ascii COLLATE ascii_bin NULL,
  phone_bidx BIGINT NULL,
  phone_bidx_kid VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NULL,
  phone_masked VARCHAR(16) NULL,
  union_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  window_url VARCHAR(2048) NULL,
  ip_address VARCHAR(45) NULL,
  user_agent VARCHAR(1024) NULL,
  from_channel VARCHAR(64) NULL,
  has_tool TINYINT(1) NULL,
  join_time DATETIME NULL,
  leads_type VARCHAR(16) NULL,
  is_group TINYINT(1) NULL,
  main_business_id INT NULL,
  is_deleted TINYINT(1) NOT NULL DEFAULT 0,
  source_updated_at DATETIME NOT NULL,
  content_hash BIGINT NOT NULL,
  etl_run_id VARCHAR(250) NULL COMMENT 'the sync run, or the online writer, that recorded this version',
  etl_loaded_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) COMMENT 'when this version was recorded',
  PRIMARY KEY (etl_loaded_at, lead_id, source_updated_at, content_hash),
  UNIQUE KEY uq_history_version (lead_id, source_updated_at, content_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
