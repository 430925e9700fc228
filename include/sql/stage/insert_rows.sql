-- Multi-row insert (mysqlclient rewrites executemany of this shape into multi-row statements).
INSERT INTO {table} ({columns}) VALUES ({placeholders})
