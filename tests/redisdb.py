"""An empty database of the local Redis, for production-path tests and the load test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def redis_available() -> bool:
    try:
        return bool(redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


@contextmanager
def empty_redis_database() -> Iterator[redis.Redis]:
    """A Redis database number nobody uses (0 is left to `make run-prod`), emptied afterwards."""
    for number in range(1, 16):
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
        if client.dbsize() == 0:
            try:
                yield client
            finally:
                client.flushdb()
                client.close()
            return
        client.close()
    raise RuntimeError("every Redis database 1-15 holds keys; flush one for the production test")


def redis_url(client: redis.Redis) -> str:
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{client.connection_pool.connection_kwargs['db']}"
