-- Erasure: these leads' rows in one staging table ({ids} are int()-formatted).
DELETE FROM {stage} WHERE lead_id IN ({ids})
