-- Erasure: keep the lead as a tombstone (lead_id, is_deleted = 1, timestamps and business codes kept) and
-- drop every personal value and the fingerprint computed from them. {ids} are int()-formatted. Rows already
-- tombstoned are not touched, so erasing twice changes nothing.
UPDATE {flow_table} SET
  phone_cipher = NULL,
  phone_bidx = NULL,
  phone_bidx_kid = NULL,
  phone_masked = NULL,
  union_id = NULL,
  ip_address = NULL,
  user_agent = NULL,
  window_url = NULL,
  content_hash = NULL,
  is_deleted = 1
 WHERE lead_id IN ({ids})
   AND (is_deleted <> 1 OR phone_cipher IS NOT NULL OR phone_bidx IS NOT NULL OR phone_bidx_kid IS NOT NULL
        OR phone_masked IS NOT NULL OR union_id IS NOT NULL OR ip_address IS NOT NULL OR user_agent IS NOT NULL
        OR window_url IS NOT NULL OR content_hash IS NOT NULL)
