-- Every MySQL connection the package opens (leads_flow.io.connect): the session's time zone is that of the
-- legacy DATETIMEs (leads_flow.config.TZ, UTC+8), and lock waits give up after :wait seconds.
SET SESSION time_zone = '+08:00', SESSION innodb_lock_wait_timeout = :wait, SESSION lock_wait_timeout = :wait
