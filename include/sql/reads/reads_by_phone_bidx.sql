-- Candidates for a phone lookup: one blind-index kid at a time (ref on idx_phone_bidx).
-- The caller decrypts every candidate and keeps only exact E.164 matches: the index is not an identity.
SELECT {columns} FROM leads_flow
 WHERE phone_bidx_kid = :kid AND phone_bidx = :bidx
   AND (is_deleted = 0 OR :include_deleted = 1)
 ORDER BY lead_id
