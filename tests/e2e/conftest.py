"""Servers the end-to-end tests run Airflow against: a fresh PostgreSQL metadata database, an empty Redis db.

PostgreSQL, not SQLite, holds the metadata of every real-Airflow test: with SQLite the scheduler and the
api-server contend for one file lock, and a backfill's dag-run inserts failed with "database is locked" on a
loaded machine (CI, 2026-12-02). Production runs PostgreSQL too (docker-compose.yaml).
"""

from __future__ import annotations

import os
import random
import uuid

import pytest

from tests.conftest import REQUIRE_MYSQL

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS = {"host": "127.0.0.1", "port": 6379}


def _unavailable(what: str, exc: Exception) -> None:
    msg = f"{what} not reachable: {exc}"
    if REQUIRE_MYSQL or os.environ.get("CI"):
        pytest.fail(msg + " (CI needs it for the end-to-end tests)")
    pytest.skip("!!! SKIPPING AN END-TO-END TEST !!! " + msg)


# ------------------------------------------------------------------------------------ PostgreSQL and Redis


@pytest.fixture
def pg_metadata():
    """A fresh PostgreSQL database for Airflow's metadata; dropped (connections forced off) at the end."""
    import psycopg2

    try:
        admin = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    except psycopg2.Error as exc:
        _unavailable("PostgreSQL", exc)
    admin.autocommit = True
    name = f"lfc_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgres@{PG['host']}:{PG['port']}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture
def redis_broker():
    """An empty Redis database number, claimed with a key (two runs at once never share one); flushed at the end."""
    import redis

    tag = uuid.uuid4().hex
    try:
        probe = redis.Redis(**REDIS, socket_timeout=5)
        count = int(probe.config_get("databases").get("databases", 16))
    except redis.RedisError as exc:
        _unavailable("Redis", exc)
    claimed = None
    for n in random.sample(range(1, count), count - 1):  # db 0 is everybody's default: never ours
        r = redis.Redis(**REDIS, db=n, socket_timeout=5)
        if r.dbsize() == 0 and r.set("leads-flow-e2e:claim", tag, nx=True):
            claimed = r
            break
        r.close()
    probe.close()
    if claimed is None:
        pytest.fail("no empty Redis database number to use as the broker")
    try:
        yield f"redis://{REDIS['host']}:{REDIS['port']}/{claimed.connection_pool.connection_kwargs['db']}"
    finally:
        claimed.flushdb()
        claimed.close()
