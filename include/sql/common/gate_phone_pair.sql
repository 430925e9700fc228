-- Unexpected: a cipher without its blind index (and kid), or the reverse.
SELECT lead_id FROM {batch}
 WHERE (phone_cipher IS NULL) <> (phone_bidx IS NULL)
    OR (phone_cipher IS NULL) <> (phone_bidx_kid IS NULL)
    OR (phone_cipher IS NULL) <> (phone_masked IS NULL)
