-- Pipeline runs that published while the bulk publish ran (their rows need bulk_catch_up_run.sql).
SELECT etl_run_id FROM leads_flow_run WHERE status = :published AND finished_at >= :since
