-- Encryption kids of leads_flow's phone tokens: a loose scan of idx_enc_kid (one dive per kid), not a table scan.
SELECT DISTINCT phone_enc_kid FROM leads_flow WHERE phone_enc_kid IS NOT NULL
