-- One lead written by an online service (leads_flow.reads.submit_lead): the row built by the same
-- Mapper as the sync pipeline, upserted with the same newer-wins clause as publish.sql, so both
-- writers converge.
-- include: insert_flow_columns
VALUES ({flow_values})
-- include: upsert_newer_wins
