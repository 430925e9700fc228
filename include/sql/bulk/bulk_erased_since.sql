-- Leads erased while the bulk publish ran: tombstoned again in the shadow and after the rename.
SELECT lead_id FROM leads_flow_erasure WHERE erased_at >= :since
