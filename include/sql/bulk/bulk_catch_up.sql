-- Catch-up of the bulk publish: the leads an online writer (submit_lead, the Java services) wrote since :since,
-- found through the journal's clustered key (leads_flow_history is ordered by etl_loaded_at; every online write
-- journals its version in the same transaction), re-applied from {source} into {flow_table} with the
-- newer-wins rule. Re-applying a row already there changes nothing.
{insert_flow_columns}
SELECT {flow_columns}
  FROM (SELECT DISTINCT lead_id FROM leads_flow_history WHERE etl_loaded_at >= :since) w
  JOIN {source} USING (lead_id)
 ORDER BY lead_id
{upsert_newer_wins}
