-- Unexpected: any text column that still holds something shaped like a mainland mobile number.
SELECT lead_id FROM {batch}
 WHERE phone_cipher REGEXP '{mobile}' OR phone_masked REGEXP '{mobile}' OR union_id REGEXP '{mobile}'
    OR window_url REGEXP '{mobile}' OR ip_address REGEXP '{mobile}' OR user_agent REGEXP '{mobile}'
    OR from_channel REGEXP '{mobile}' OR leads_type REGEXP '{mobile}'
