-- Catch-up of the rows another pipeline run (a daily partition, a repair) published while the bulk publish
-- built its shadow: its journal rows carry its stage's time, not its publish's, so they are found by run id,
-- a scan of {source} (only when such a run finished during the bulk publish).
{insert_flow_columns}
SELECT {flow_columns} FROM {source} WHERE etl_run_id = :etl_run_id ORDER BY lead_id
{upsert_newer_wins}
