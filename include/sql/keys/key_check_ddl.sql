-- The keyring's check values (leads_flow.io.key_check): one row per (ring, kid), recorded at the ring's first use or
-- by scripts/register_keys.py, never replaced. A check value identifies a key without revealing it.
CREATE TABLE IF NOT EXISTS leads_flow_key_check (
  ring VARCHAR(4) CHARACTER SET ascii NOT NULL COMMENT 'enc or bidx',
  kid VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  check_value CHAR(16) CHARACTER SET ascii NOT NULL COMMENT 'HMAC-SHA256(root key, leads-pii/v1/kcv/<ring>), 8 bytes hex',
  recorded_at DATETIME(6) NOT NULL,
  recorded_by VARCHAR(64) NOT NULL COMMENT 'first use, or scripts/register_keys.py',
  PRIMARY KEY (ring, kid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
