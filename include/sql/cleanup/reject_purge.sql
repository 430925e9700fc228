-- Retention of rejects (leads_flow.io.cleanup.purge_rejects, run by the sync's plan): a reject keeps the
-- lead's raw values (phone encrypted), so it is kept no longer than LEADS_FLOW_REJECT_RETENTION_DAYS.
DELETE FROM leads_flow_reject WHERE rejected_at < :before
