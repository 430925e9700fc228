-- After LOAD DATA raised warnings (leads_flow.io.load): their codes only (column 2), never their text, which
-- may quote the value.
SHOW WARNINGS LIMIT 20
