"""Rate-limit counters in Redis: a request's counters cost one round trip, and expire."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection

from app.web.ratelimit import MemoryCounter, RedisCounter


@pytest.mark.redis
async def test_all_counters_of_a_request_take_one_redis_round_trip(redis_url: str) -> None:
    # A reveal counts per secret, per client and per user: three keys, one round trip.
    class CountingConnection(Connection):
        sent = 0

        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            CountingConnection.sent += 1
            await super().send_packed_command(command, check_health)

    redis: Redis = Redis.from_url(redis_url, connection_class=CountingConnection)
    prefix = f"test-rl-{uuid.uuid4().hex}"
    counter = RedisCounter(redis, MemoryCounter(), prefix=prefix)
    try:
        await redis.ping()
        before = CountingConnection.sent
        assert await counter.hit_many(["a", "b", "c"], 7, 60) == [1, 1, 1]
        assert CountingConnection.sent - before == 1
        assert await counter.hit_many(["a", "c"], 7, 60) == [2, 2]
        assert await counter.hit_many(["a"], 8, 60) == [1]  # a new window starts at zero
        # Every counter expires with its window: Redis keeps no key forever.
        for key in ("a:7", "b:7", "c:7", "a:8"):
            assert 0 < await redis.ttl(f"{prefix}:{key}") <= 61
        assert not counter.degraded
    finally:
        await redis.delete(*[f"{prefix}:{key}" for key in ("a:7", "b:7", "c:7", "a:8")])
        await redis.aclose()
