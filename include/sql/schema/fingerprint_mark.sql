-- Record a finished recompute; a second plan that finished the same recompute concurrently adds nothing.
INSERT IGNORE INTO leads_flow_fingerprint (version, rows_recomputed, migrated_at)
VALUES (:version, :rows_recomputed, :migrated_at)
