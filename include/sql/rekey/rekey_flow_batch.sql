-- The next batch of leads_flow rows (primary-key order, after :after) whose token is not under the active
-- encryption kid (:enc_prefix = 'e1:<kid>:%') or whose blind index is not under the active bidx kid.
SELECT lead_id, phone_cipher, phone_bidx_kid
FROM leads_flow
WHERE lead_id > :after
  AND phone_cipher IS NOT NULL
  AND (phone_cipher NOT LIKE :enc_prefix OR phone_bidx_kid IS NULL OR phone_bidx_kid <> :bidx_kid)
ORDER BY lead_id
LIMIT :batch
