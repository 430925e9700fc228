-- One bulk publish at a time per flow database (released when the connection closes). 1: held; 0: another
-- bulk publish holds it.
SELECT GET_LOCK('leads_flow_bulk_publish', 0)
