"""Sessions: shared through Redis by several app processes, with idle and absolute timeouts."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import httpx
import pytest
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis

from app.settings import Settings
from app.web.app import create_app
from app.web.sessioncache import SessionCache
from app.web.sessions import CACHE_SECONDS, _key
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
    two_processes: tuple[httpx.AsyncClient, httpx.AsyncClient],
    issuer: str,
    redis_url: str,
    clock: FrozenClock,
) -> None:
    first, _second = two_processes
    await sign_in(first, issuer, STAFF)
    session_id = first.cookies.get("safe_share_session") or ""
    redis = Redis.from_url(redis_url)
    try:
        keys = [k.decode() for k in await redis.keys("safe_share*")]
        stored = next(k for k in keys if k.endswith(_key("session", session_id)))
        await redis.expire(stored, 5)
        clock.advance(seconds=CACHE_SECONDS + 1)  # past this process's copy of the session
        await first.get("/")  # a request renews the idle timeout
        assert 590 <= await redis.ttl(stored) <= 600
        assert session_id not in repr(keys)  # only a hash of the id is stored
        await redis.delete(stored)  # what the idle expiry does
        clock.advance(seconds=CACHE_SECONDS + 1)
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


@pytest.mark.redis
async def test_a_sign_out_on_one_process_holds_at_once_on_another_that_kept_a_copy(
    two_processes: tuple[httpx.AsyncClient, httpx.AsyncClient], issuer: str
) -> None:
    first, second = two_processes
    await sign_in(first, issuer, STAFF)
    second.cookies.set("safe_share_session", first.cookies.get("safe_share_session") or "")
    assert STAFF in (await second.get("/")).text  # the second process now keeps a copy
    out = await first.post(
        "/auth/logout", headers={"x-csrftoken": first.cookies.get("safe_share_csrf") or ""}
    )
    assert out.status_code == 303
    page = await second.get("/")  # no time passes: only the announcement removed the copy
    assert page.status_code == 200
    assert STAFF not in page.text


def test_the_cache_keeps_nothing_while_it_cannot_hear_sign_outs() -> None:
    now = [0.0]
    cache = SessionCache(5, clock=lambda: now[0])
    cache.put("k", "session", cache.epoch)
    assert cache.get("k") is None  # not listening yet
    cache.listening = True
    cache.put("k", "session", cache.epoch)
    assert cache.get("k") == "session"
    now[0] = 5.5
    assert cache.get("k") is None  # a few seconds at most
    now[0] = -100.0
    cache.put("k", "session", cache.epoch)
    now[0] = -200.0  # the clock went back: the copy is not trusted for longer
    assert cache.get("k") is None


def test_a_read_that_began_before_a_sign_out_does_not_put_the_session_back() -> None:
    cache = SessionCache(5, clock=lambda: 0.0)
    cache.listening = True
    epoch = cache.epoch  # a request starts reading the store...
    cache.drop("k")  # ...a sign-out is announced meanwhile...
    cache.put("k", "stale session", epoch)  # ...and the read comes back
    assert cache.get("k") is None


@pytest.mark.redis
async def test_apps_on_another_database_of_the_same_redis_neither_hear_nor_hold_up_sign_outs(
    two_processes: tuple[httpx.AsyncClient, httpx.AsyncClient],
    redis_settings: Settings,
    issuer: str,
    clock: FrozenClock,
) -> None:
    # Redis channels span the whole server: an app on another database (another deployment,
    # another test run) must not be counted among the processes that have to acknowledge.
    base, _, db = (redis_settings.redis_url or "").rpartition("/")
    other_db = f"{base}/{(int(db) + 1) % 16}"
    neighbour = create_app(dataclasses.replace(redis_settings, redis_url=other_db), clock=clock)
    async with LifespanManager(cast(Any, neighbour)):
        first, _second = two_processes
        await sign_in(first, issuer, STAFF)
        out = await first.post(
            "/auth/logout", headers={"x-csrftoken": first.cookies.get("safe_share_csrf") or ""}
        )
        assert out.status_code == 303
