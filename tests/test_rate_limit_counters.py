"""Rate-limit counters in Redis: a request's counters cost one round trip, count atomically,
expire with their window (the first hit sets the TTL, later hits don't extend it), survive a
flushed script cache, and fall back to memory while Redis is down."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection

from app.web.ratelimit import MemoryCounter, RedisCounter
from app.web.stores import make_redis
from tests.support.services import OwnRedis, own_redis


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own in the shared test database, its keys deleted after."""
    prefix = f"test-rl-{uuid.uuid4().hex}"
    yield prefix
    redis = make_redis(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


async def old_version_hit_many(
    redis: Redis, prefix: str, keys: Sequence[str], window_index: int, window_seconds: int
) -> list[int]:
    """What processes of the previous release send (MULTI, INCR + EXPIRE per key, EXEC): during
    a rolling deploy both versions count in the same keys."""
    async with redis.pipeline(transaction=True) as pipe:
        for key in keys:
            redis_key = f"{prefix}:{key}:{window_index}"
            pipe.incr(redis_key)
            pipe.expire(redis_key, window_seconds + 1)
        results = await pipe.execute()
    return [int(count) for count in results[::2]]


@pytest.mark.redis
async def test_all_counters_of_a_request_take_one_redis_round_trip(
    redis_url: str, prefix: str
) -> None:
    # A reveal counts per secret, per client and per user: three keys, one round trip.
    class CountingConnection(Connection):
        sent = 0

        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            CountingConnection.sent += 1
            await super().send_packed_command(command, check_health)

    redis: Redis = Redis.from_url(redis_url, connection_class=CountingConnection)
    counter = RedisCounter(redis, MemoryCounter(), prefix=prefix)
    try:
        await counter.hit("warm-up", 1, 60)  # the script may have to be loaded first
        before = CountingConnection.sent
        assert await counter.hit_many(["a", "b", "c"], 7, 60) == [1, 1, 1]
        assert CountingConnection.sent - before == 1
        assert await counter.hit_many(["a", "c"], 7, 60) == [2, 2]
        assert await counter.hit_many(["a", "c", "b"], 7, 60) == [3, 3, 2]
        assert await counter.hit_many(["a"], 8, 60) == [1]  # a new window starts at zero
        assert await counter.hit("a", 7, 60) == 4
        # The names processes of the previous release use (a rolling deploy shares them).
        assert int(await redis.get(f"{prefix}:a:7") or 0) == 4
        # Every counter expires with its window: Redis keeps no key forever.
        for key in ("a:7", "b:7", "c:7", "a:8"):
            assert 0 < await redis.ttl(f"{prefix}:{key}") <= 61
        assert not counter.degraded
    finally:
        await redis.aclose()


@pytest.mark.redis
async def test_a_window_ttl_is_set_by_its_first_hit_and_not_extended_by_later_ones(
    redis_url: str, prefix: str
) -> None:
    redis = make_redis(redis_url)
    counter = RedisCounter(redis, MemoryCounter(), prefix=prefix)
    try:
        assert await counter.hit_many(["a", "b"], 7, 60) == [1, 1]
        first = await redis.pttl(f"{prefix}:a:7")
        assert 60_000 < first <= 61_000
        await asyncio.sleep(1.2)
        # Later hits: counted, but the key still expires when the first hit said.
        assert await counter.hit_many(["a", "b"], 7, 60) == [2, 2]
        assert await counter.hit_many(["a"], 7, 60) == [3]
        for key in ("a:7", "b:7"):
            assert 0 < await redis.pttl(f"{prefix}:{key}") <= first - 1_100
        # A key made by a previous-release process keeps counting here.
        assert await old_version_hit_many(redis, prefix, ["c"], 7, 60) == [1]
        assert await counter.hit_many(["c", "a"], 7, 60) == [2, 4]
    finally:
        await redis.aclose()


@pytest.mark.redis
async def test_concurrent_requests_get_distinct_counts_across_processes_and_versions(
    redis_url: str, prefix: str
) -> None:
    # Two app processes (own clients, own connection pools) and one of the previous release,
    # all hitting the same two counters at once: each request sees one consistent count.
    clients = [make_redis(redis_url) for _ in range(3)]
    first, second = (RedisCounter(client, MemoryCounter(), prefix=prefix) for client in clients[:2])
    keys = ["target", "client"]
    try:
        await first.hit("warm-up", 7, 60)  # load the script: the NOSCRIPT retry is not the point
        calls = []
        for turn in range(120):
            if turn % 3 == 0:
                calls.append(first.hit_many(keys, 7, 60))
            elif turn % 3 == 1:
                calls.append(second.hit_many(keys, 7, 60))
            else:
                calls.append(old_version_hit_many(clients[2], prefix, keys, 7, 60))
        results = await asyncio.gather(*calls)
        # Atomic per request: both counters of a request moved together...
        assert all(target == client for target, client in results)
        # ...and no two requests saw the same count.
        assert sorted(target for target, _ in results) == list(range(1, 121))
        assert not first.degraded
        assert not second.degraded
    finally:
        for client in clients:
            await client.aclose()


@pytest.fixture
async def on_own_redis() -> AsyncIterator[tuple[OwnRedis, Redis, RedisCounter]]:
    """A counter on a Redis server of this test's own, for tests that flush or stop it (the
    shared server's script cache and keys stay untouched)."""
    with own_redis() as server:
        redis = make_redis(server.url)
        counter = RedisCounter(redis, MemoryCounter(), prefix="safe_share:rl")
        try:
            yield server, redis, counter
        finally:
            await counter.aclose()
            await redis.aclose()


def assert_no_outage_seen(counter: RedisCounter, caplog: pytest.LogCaptureFixture) -> None:
    """Every count went to Redis: no warning, no switch to memory, nothing counted there."""
    assert not counter.degraded
    assert not caplog.records
    assert not counter.fallback.counts


async def test_a_flushed_script_cache_is_refilled_without_losing_a_count(
    caplog: pytest.LogCaptureFixture, on_own_redis: tuple[OwnRedis, Redis, RedisCounter]
) -> None:
    # Our own Redis: SCRIPT FLUSH empties the script cache of the whole server.
    _server, redis, counter = on_own_redis
    with caplog.at_level(logging.WARNING, logger="app.ratelimit"):
        assert await counter.hit_many(["a", "b"], 7, 60) == [1, 1]
        await redis.script_flush()
        assert await counter.hit_many(["a", "b"], 7, 60) == [2, 2]
        assert int(await redis.get("safe_share:rl:a:7") or 0) == 2
        assert_no_outage_seen(counter, caplog)


async def test_while_redis_is_down_counting_goes_on_in_memory_and_returns_to_redis(
    caplog: pytest.LogCaptureFixture, on_own_redis: tuple[OwnRedis, Redis, RedisCounter]
) -> None:
    server, redis, counter = on_own_redis
    with caplog.at_level(logging.WARNING, logger="app.ratelimit"):
        assert await counter.hit_many(["a", "b"], 7, 60) == [1, 1]
        assert await counter.hit_many(["a", "b"], 7, 60) == [2, 2]
        server.stop()
        # The same limits, counted in this process from zero, with one warning.
        assert await counter.hit_many(["a", "b"], 7, 60) == [1, 1]
        assert await counter.hit_many(["a", "c"], 7, 60) == [2, 1]
        assert await counter.hit("a", 7, 60) == 3
        assert counter.degraded
        messages = [record.getMessage() for record in caplog.records]
        assert messages == [
            "rate limits: Redis unavailable (ConnectionError), counting in this process"
        ]
        # Back (empty, and without the script): counting in Redis again, one warning.
        server.start()
        assert await counter.hit_many(["a", "b"], 7, 60) == [1, 1]
        assert await counter.hit_many(["a", "b"], 7, 60) == [2, 2]
        assert not counter.degraded
        messages = [record.getMessage() for record in caplog.records]
        assert messages[1:] == ["rate limits: Redis is back, counting in Redis again"]
        assert int(await redis.get("safe_share:rl:a:7") or 0) == 2
        assert 0 < await redis.ttl("safe_share:rl:a:7") <= 61


@pytest.mark.redis
async def test_a_request_cancelled_mid_call_never_leaves_its_reply_for_the_next(
    redis_url: str, prefix: str
) -> None:
    """The counter keeps its own idle connections: one whose reply was not read (the request
    was cancelled, a client gone) must be dropped, or the next request would read that stale
    reply as its own counts."""
    waiting = asyncio.Event()
    release = asyncio.Event()

    class SlowReader(Connection):
        async def read_response(self, *args: Any, **kwargs: Any) -> Any:
            if not release.is_set():
                waiting.set()
                await release.wait()
            return await super().read_response(*args, **kwargs)

    redis: Redis = Redis.from_url(redis_url, connection_class=SlowReader)
    counter = RedisCounter(redis, MemoryCounter(), prefix=prefix)
    try:
        release.set()
        await counter.hit("warm-up", 1, 60)  # the script loaded: the next call counts
        release.clear()
        stuck = asyncio.create_task(counter.hit_many(["a", "b"], 7, 60))
        await waiting.wait()  # sent; its reply [1, 1] is on the wire, unread
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck
        assert counter.script.idle == []
        release.set()
        # Redis counted the cancelled call; this one reads its own reply, not [1, 1].
        assert await counter.hit_many(["a", "b"], 7, 60) == [2, 2]
        assert await counter.hit_many(["b"], 7, 60) == [3]
        assert len(counter.script.idle) == 1  # one connection, reused
        assert not counter.degraded
    finally:
        await counter.aclose()
        await redis.aclose()


async def test_an_idle_connection_closed_by_a_redis_restart_is_replaced_without_an_outage(
    caplog: pytest.LogCaptureFixture, on_own_redis: tuple[OwnRedis, Redis, RedisCounter]
) -> None:
    """Redis restarts between two requests: the counter's idle connection is dead, and the
    next request counts in Redis on a new one, with no warning and no fall back to memory."""
    server, redis, counter = on_own_redis
    with caplog.at_level(logging.WARNING, logger="app.ratelimit"):
        assert await counter.hit_many(["a"], 7, 60) == [1]
        assert len(counter.script.idle) == 1
        server.stop()
        server.start()  # empty, and without the script
        assert await counter.hit_many(["a"], 7, 60) == [1]
        assert await counter.hit_many(["a"], 7, 60) == [2]
        assert int(await redis.get("safe_share:rl:a:7") or 0) == 2
        assert_no_outage_seen(counter, caplog)
