-- Unexpected: an ip_address with characters no IPv4/IPv6 text form has (SQLite has no INET6_ATON).
SELECT lead_id FROM {batch}
 WHERE ip_address IS NOT NULL AND (ip_address = '' OR ip_address GLOB '*[^0-9a-fA-F.:]*')
