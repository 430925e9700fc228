-- Retention of reconcile's per-lead drift rows (leads_flow.io.cleanup.purge_drift); run summaries are kept.
DELETE FROM leads_flow_drift WHERE detected_at < :before
