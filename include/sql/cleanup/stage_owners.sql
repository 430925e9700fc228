-- Retention on SQLite, which keeps no creation time: a staging table's age is that of the run owning it
-- (leads_flow.io.cleanup.stale_stages maps each run id to its table name).
SELECT etl_run_id, started_at FROM leads_flow_run
