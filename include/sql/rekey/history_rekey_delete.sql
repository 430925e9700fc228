-- Key rotation: a journal row whose version, moved to the active kids, equals another row of the lead (the sync
-- recorded it again under the new blind index): the duplicate under the old kid goes. Optimistic as the update.
DELETE FROM leads_flow_history
 WHERE lead_id = :lead_id AND source_updated_at = :sua AND content_hash = :old_hash AND phone_cipher = :old_cipher
