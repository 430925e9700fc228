-- Key rotation of one journal row: new token, blind index under the active kid and the fingerprint recomputed
-- over it. Optimistic: only while the row still holds the token that was read.
UPDATE leads_flow_history
   SET phone_cipher = :new_cipher, phone_bidx = :bidx, phone_bidx_kid = :bidx_kid, content_hash = :new_hash
 WHERE lead_id = :lead_id AND source_updated_at = :sua AND content_hash = :old_hash AND phone_cipher = :old_cipher
