-- Reconcile, flow side: leads_flow rows whose source_updated_at lies in [:start, :end), by lead_id
-- (range on idx_source_updated_at; the sort is one window's rows). Streamed by a server-side cursor.
SELECT {columns} FROM leads_flow
 WHERE source_updated_at >= :start AND source_updated_at < :end
 ORDER BY lead_id
