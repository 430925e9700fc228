-- The pipeline's own tables. Idempotent: run at the start of every run.
CREATE TABLE IF NOT EXISTS leads_flow (
  lead_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
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
  content_hash BIGINT NULL COMMENT 'fingerprint of the mapped fields; equal timestamps update only when it differs',
  etl_run_id VARCHAR(250) NULL,
  etl_loaded_at DATETIME(6) NULL,
  phone_enc_kid VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin
    AS (IF(LEFT(phone_cipher, 3) = 'e1:' AND LOCATE(':', phone_cipher, 4) > 0,
        SUBSTRING_INDEX(SUBSTRING(phone_cipher, 4), ':', 1), NULL)) VIRTUAL
    COMMENT 'the kid of phone_cipher (computed): the sync plan checks the keyring holds every kid in use',
  KEY idx_phone_bidx (phone_bidx_kid, phone_bidx),
  KEY idx_union_id (union_id),
  KEY idx_channel_join (from_channel, join_time),
  KEY idx_source_updated_at (source_updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS leads_flow_reject (
  etl_run_id VARCHAR(250) NOT NULL,
  lead_id BIGINT UNSIGNED NOT NULL,
  reasons VARCHAR(255) CHARACTER SET ascii NOT NULL COMMENT 'comma-separated reason codes',
  raw_values TEXT NULL COMMENT 'JSON of the legacy values; phone e1-encrypted, phones in text masked',
  source_updated_at DATETIME NULL,
  source_version DATETIME NOT NULL DEFAULT '1000-01-01 00:00:00' COMMENT 'source_updated_at, or 1000-01-01 when NULL: one reject per lead and version',
  phone_bidx BIGINT NULL COMMENT 'blind index of the raw phone when it normalises: erasure and rekey find rejects by it',
  phone_bidx_kid VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NULL,
  rejected_at DATETIME(6) NOT NULL,
  PRIMARY KEY (etl_run_id, lead_id),
  KEY idx_reject_lead (lead_id),
  KEY idx_reject_at (rejected_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS leads_flow_run (
  etl_run_id VARCHAR(250) NOT NULL PRIMARY KEY,
  dag_id VARCHAR(250) NULL,
  dag_run_id VARCHAR(250) NULL,
  partition_start DATETIME NOT NULL,
  partition_end DATETIME NOT NULL,
  window_start DATETIME NOT NULL,
  window_end DATETIME NOT NULL,
  status VARCHAR(16) NOT NULL,
  extracted INT NULL,
  staged INT NULL,
  rejected INT NULL,
  coerced INT NULL,
  published INT NULL,
  rejects_by_reason TEXT NULL,
  gate_success TINYINT(1) NULL,
  gate_failed_checks TEXT NULL,
  gate_results MEDIUMTEXT NULL,
  timings TEXT NULL,
  volume_check TEXT NULL,
  error TEXT NULL,
  started_at DATETIME(6) NOT NULL,
  finished_at DATETIME(6) NULL,
  KEY idx_run_started (started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
