-- Unexpected: a text column that still holds something shaped like a mainland mobile number.
-- Free text is searched for the number between non-digits; opaque identifiers (unionId, tokens) only
-- for a number standing apart from letters too, since random ids may hold 11 digits in a row.
SELECT lead_id FROM {batch}
 WHERE phone_masked REGEXP '{mobile}' OR window_url REGEXP '{mobile}' OR ip_address REGEXP '{mobile}'
    OR user_agent REGEXP '{mobile}' OR from_channel REGEXP '{mobile}' OR leads_type REGEXP '{mobile}'
    OR union_id REGEXP '{mobile_apart}' OR phone_cipher REGEXP '{mobile_apart}'
