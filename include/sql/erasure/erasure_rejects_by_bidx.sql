-- Erasure by phone: rejects whose raw phone has this blind index under one kid (idx_reject_bidx); the caller
-- confirms each by decrypting the raw token.
SELECT lead_id, raw_values FROM leads_flow_reject WHERE phone_bidx_kid = :kid AND phone_bidx = :bidx
