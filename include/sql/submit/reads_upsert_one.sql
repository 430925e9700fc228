-- One lead written by an online service (leads_flow.submit.submit_lead): the row built by the same
-- Mapper as the sync pipeline, upserted with the same newer-wins clause as publish.sql, so both
-- writers converge.
{insert_flow_columns}
VALUES ({flow_values})
{upsert_newer_wins}
