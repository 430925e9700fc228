-- make bench-deletes: leads_flow holds every generated legacy id 1..{rows} as a live lead (the columns the
-- hard-delete watch reads; the others stay NULL).
INSERT INTO leads_flow (lead_id, from_channel, is_deleted, source_updated_at, etl_run_id)
SELECT seq, 'baidu_sem', 0, TIMESTAMP('{day}'), 'bench@{day}' FROM seq_1_to_{rows}
