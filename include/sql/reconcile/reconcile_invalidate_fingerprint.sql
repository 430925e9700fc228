-- Before a repair re-syncs 'rewrite' leads (content drifted under a fingerprint equal to the legacy one, or
-- a sampled token that is not the legacy phone), clear their stored fingerprint: the newer-wins upsert
-- rewrites a same-timestamp row only when the fingerprints differ.
UPDATE leads_flow SET content_hash = NULL
 WHERE lead_id IN (SELECT lead_id FROM leads_flow_drift
                    WHERE reconcile_run_id = :run_id AND window_start = :window_start
                      AND next_action = 'rewrite')
