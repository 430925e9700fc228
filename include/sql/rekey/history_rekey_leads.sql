-- Key rotation: the next batch of leads (after :after, in primary-key order) with a journal row whose token
-- is not under the active encryption kid (:enc_prefix = 'e1:<kid>:%') or whose blind index is not under the
-- active bidx kid.
SELECT DISTINCT lead_id
FROM leads_flow_history
WHERE lead_id > :after
  AND phone_cipher IS NOT NULL
  AND (phone_cipher NOT LIKE :enc_prefix OR phone_bidx_kid IS NULL OR phone_bidx_kid <> :bidx_kid)
ORDER BY lead_id
LIMIT :batch
