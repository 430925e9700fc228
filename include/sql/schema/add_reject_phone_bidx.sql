-- Migration (leads_flow.io.schema.MIGRATIONS): the raw phone's blind index beside its token (issue #12).
ALTER TABLE leads_flow_reject ADD COLUMN phone_bidx BIGINT NULL
