-- Migration (leads_flow.io.schema.MIGRATIONS): the kid of the reject's blind index.
ALTER TABLE leads_flow_reject ADD COLUMN phone_bidx_kid VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NULL
