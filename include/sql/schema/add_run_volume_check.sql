-- Migration (leads_flow.io.schema.MIGRATIONS): the gate's volume check (quality.volume), JSON; NULL for runs
-- before it or not checked (repairs).
ALTER TABLE leads_flow_run ADD COLUMN volume_check TEXT NULL
