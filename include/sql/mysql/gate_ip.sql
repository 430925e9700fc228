-- Unexpected: an ip_address the server itself cannot parse as IPv4 or IPv6.
SELECT lead_id FROM {batch} WHERE ip_address IS NOT NULL AND INET6_ATON(ip_address) IS NULL
