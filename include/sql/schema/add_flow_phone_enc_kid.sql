-- Migration (leads_flow.io.schema.MIGRATIONS): the kid of phone_cipher, computed (never written) and indexed:
-- every sync plan checks the keyring holds it.
ALTER TABLE leads_flow ADD COLUMN phone_enc_kid VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin AS (IF(LEFT(phone_cipher, 3) = 'e1:'
  AND LOCATE(':', phone_cipher, 4) > 0, SUBSTRING_INDEX(SUBSTRING(phone_cipher, 4), ':', 1), NULL)) VIRTUAL
