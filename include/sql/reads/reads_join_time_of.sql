-- The join_time of one lead (primary key), to resume a channel page from a bare lead_id.
SELECT join_time FROM leads_flow WHERE lead_id = :lead_id
