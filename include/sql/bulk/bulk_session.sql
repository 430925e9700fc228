-- The bulk publish's session (io/bulk.py): READ COMMITTED, so that its INSERT ... SELECT reads of leads_flow
-- are consistent non-locking reads; under REPEATABLE READ they would take shared locks on every row copied
-- and hold the online writers (submit_lead, the Java services) for the whole copy.
SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED
