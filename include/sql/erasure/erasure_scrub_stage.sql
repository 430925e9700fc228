-- Resurrection guard, before a staging table is published: drop the staged rows of erased leads, so that
-- no sync, rerun, backfill or repair writes their data into leads_flow again. Run it in the publish's
-- transaction (a lead erased while the partition was staging is then caught too).
DELETE FROM {stage} WHERE lead_id IN (SELECT lead_id FROM leads_flow_erasure)
