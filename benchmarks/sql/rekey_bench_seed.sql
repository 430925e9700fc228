-- benchmarks/bench_rekey.py only: generated leads_flow rows under the old kid (multi-row through executemany).
INSERT INTO leads_flow (lead_id, phone_cipher, phone_bidx, phone_bidx_kid, phone_masked, source_updated_at)
VALUES (?, ?, ?, ?, ?, ?)
