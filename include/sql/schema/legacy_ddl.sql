-- The legacy table as it exists in production. Shipped for tests and demos only:
-- the pipeline never creates or alters it on a real legacy database.
CREATE TABLE IF NOT EXISTS leads_aggr (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  phone VARCHAR(32) NULL,
  unionId VARCHAR(64) NULL,
  window_url VARCHAR(2048) NULL,
  ip_address VARCHAR(64) NULL,
  user_agent VARCHAR(1024) NULL,
  from_channel VARCHAR(64) NULL,
  has_tool TINYINT NULL,
  is_group TINYINT NULL,
  join_time DATETIME NULL,
  leads_type TINYINT NULL,
  main_business_id INT NULL,
  sales_name VARCHAR(64) NULL,
  follow_id VARCHAR(64) NULL,
  ad_id VARCHAR(64) NULL,
  campaign_id VARCHAR(64) NULL,
  create_time DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  update_time DATETIME NULL ON UPDATE CURRENT_TIMESTAMP,
  is_deleted TINYINT NOT NULL DEFAULT 0,
  KEY idx_update_time (update_time),
  KEY idx_create_time (create_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
