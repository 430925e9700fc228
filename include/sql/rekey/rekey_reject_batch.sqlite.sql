-- The next batch of rejects (primary-key order, after (:after_run, :after_lead)) whose raw phone token is
-- not under the active encryption kid or whose raw phone's blind index is not under the active bidx kid.
SELECT etl_run_id, lead_id, raw_values, phone_bidx_kid
FROM leads_flow_reject
WHERE (etl_run_id > :after_run OR (etl_run_id = :after_run AND lead_id > :after_lead))
  AND json_extract(raw_values, '$.phone') LIKE 'e1:%'
  AND (json_extract(raw_values, '$.phone') NOT LIKE :enc_prefix OR phone_bidx_kid <> :bidx_kid)
ORDER BY etl_run_id, lead_id
LIMIT :batch
