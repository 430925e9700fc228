-- SQLite variant of the legacy table, for the embedded demo.
CREATE TABLE IF NOT EXISTS leads_aggr (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  phone TEXT NULL,
  unionId TEXT NULL,
  window_url TEXT NULL,
  ip_address TEXT NULL,
  user_agent TEXT NULL,
  from_channel TEXT NULL,
  has_tool INTEGER NULL,
  is_group INTEGER NULL,
  join_time TEXT NULL,
  leads_type INTEGER NULL,
  main_business_id INTEGER NULL,
  sales_name TEXT NULL,
  follow_id TEXT NULL,
  ad_id TEXT NULL,
  campaign_id TEXT NULL,
  create_time TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  update_time TEXT NULL,
  is_deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_update_time ON leads_aggr (update_time);
CREATE INDEX IF NOT EXISTS idx_create_time ON leads_aggr (create_time);
