"""Sessions: shared through Redis by several app processes, with idle and absolute timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import httpx
import pytest
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis

from app.settings import Settings
from app.web.app import create_app
from app.web.sessions import _key
from tests.support.apps import FrozenClock, client_of
from tests.support.flows import answered, sign_in
from tests.support.people import STAFF


@pytest.fixture
def redis_settings(
    make_settings: Callable[..., Settings], sqlite_url: str, redis_url: str
) -> Settings:
    return make_settings(sqlite_url, redis_url=redis_url, session_idle_seconds="600")


@pytest.fixture
async def two_processes(
    redis_settings: Settings, clock: FrozenClock
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two app instances (as two processes would be) sharing one Redis."""
    first, second = create_app(redis_settings, clock=clock), create_app(redis_settings, clock=clock)
    async with (
        LifespanManager(cast(Any, first)),
        LifespanManager(cast(Any, second)),
        client_of(first) as a,
        client_of(second) as b,
    ):
        yield a, b


@pytest.mark.redis
async def test_a_session_made_on_one_process_is_valid_on_another(
    two_processes: tuple[httpx.AsyncClient, httpx.AsyncClient], issuer: str
) -> None:
    first, second = two_processes
    await sign_in(first, issuer, STAFF)
    second.cookies.set("safe_share_session", first.cookies.get("safe_share_session") or "")
    assert STAFF in (await second.get("/")).text


@pytest.mark.redis
async def test_idle_sessions_expire_in_redis_and_use_renews_them(
    two_processes: tuple[httpx.AsyncClient, httpx.AsyncClient], issuer: str, redis_url: str
) -> None:
    first, _second = two_processes
    await sign_in(first, issuer, STAFF)
    session_id = first.cookies.get("safe_share_session") or ""
    redis = Redis.from_url(redis_url)
    try:
        keys = [k.decode() for k in await redis.keys("safe_share*")]
        stored = next(k for k in keys if k.endswith(_key("session", session_id)))
        await redis.expire(stored, 5)
        await first.get("/")  # any request renews the idle timeout
        assert 590 <= await redis.ttl(stored) <= 600
        assert session_id not in repr(keys)  # only a hash of the id is stored
        await redis.delete(stored)  # what the idle expiry does
        assert STAFF not in answered(await first.get("/"), 200).text
    finally:
        await redis.aclose()


async def test_sessions_end_after_the_absolute_lifetime(
    client: httpx.AsyncClient, issuer: str, clock: FrozenClock, settings: Settings
) -> None:
    await sign_in(client, issuer, STAFF)
    clock.advance(seconds=settings.session_absolute_seconds - 60)
    assert STAFF in (await client.get("/")).text
    clock.advance(seconds=120)
    assert STAFF not in answered(await client.get("/"), 200).text
