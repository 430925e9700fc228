-- Migration (leads_flow.io.schema.MIGRATIONS): the kid of phone_cipher, computed (never written) and indexed:
-- every sync plan checks the keyring holds it.
ALTER TABLE leads_flow ADD COLUMN phone_enc_kid TEXT GENERATED ALWAYS AS (CASE WHEN substr(phone_cipher, 1, 3) = 'e1:' AND
  instr(substr(phone_cipher, 4), ':') > 0 THEN substr(phone_cipher, 4, instr(substr(phone_cipher, 4), ':') - 1)
  END) VIRTUAL
