"""Key-value stores for sessions and pending sign-ins: Redis, with this process's memory behind it.

Why both: Redis makes a session valid on every app process, but if Redis goes down, signed-in
people must not all be thrown out mid-task. Every write goes to both; reads ask Redis first and
trust its answer (including "gone", so a sign-out on one process holds on all); only when Redis
cannot be reached does this process answer from its own memory. Sessions made during an outage
exist only in the process that made them and end when Redis is back (sign in again).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from redis.asyncio import Redis

from app.settings import Settings

logger = logging.getLogger("app.stores")


def make_redis(url: str) -> Redis:
    # Short timeouts: a hung Redis must cost a request a second, not a minute.
    client: Redis = Redis.from_url(
        url, socket_connect_timeout=1, socket_timeout=1, health_check_interval=15
    )
    return client


class StoreUnavailable(Exception):
    """Redis did not answer, so a change that must be shared did not happen."""


class RedisWithMemoryStore(Store):
    def __init__(self, primary: Store, local: MemoryStore | None = None) -> None:
        self.primary = primary
        self.local = local or MemoryStore()
        self.degraded = False
        self.writes = 0

    def _failed(self, exc: Exception) -> None:
        if not self.degraded:
            self.degraded = True
            logger.warning(
                "session store: Redis unavailable (%s), using this process's memory",
                type(exc).__name__,
            )

    def _recovered(self) -> None:
        if self.degraded:
            self.degraded = False
            logger.warning("session store: Redis is back")

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        self.writes += 1
        if self.writes % 1000 == 0:
            await self.local.delete_expired()  # memory holds copies only; keep it small
        await self.local.set(key, value, expires_in)
        try:
            await self.primary.set(key, value, expires_in)
        except Exception as exc:
            self._failed(exc)
            return
        self._recovered()

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        try:
            value = await self.primary.get(key, renew_for)
        except Exception as exc:
            self._failed(exc)
            return await self.local.get(key, renew_for)
        self._recovered()
        if value is None:
            # Redis is the authority: gone there (signed out elsewhere, expired) means gone.
            await self.local.delete(key)
        elif renew_for is not None:
            await self.local.set(key, value, renew_for)
        return value

    async def delete(self, key: str) -> None:
        await self.local.delete(key)
        try:
            await self.primary.delete(key)
        except Exception as exc:
            self._failed(exc)

    async def delete_shared(self, key: str) -> None:
        """Delete in Redis first; if Redis fails, raise and keep this process's copy too, so
        what the caller reports matches what every process will see."""
        try:
            await self.primary.delete(key)
        except Exception as exc:
            self._failed(exc)
            raise StoreUnavailable from None
        self._recovered()
        await self.local.delete(key)

    async def delete_all(self) -> None:
        await self.local.delete_all()
        try:
            await self.primary.delete_all()
        except Exception as exc:
            self._failed(exc)

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        try:
            return await self.primary.expires_in(key)
        except Exception as exc:
            self._failed(exc)
            return await self.local.expires_in(key)


def make_store(settings: Settings, redis: Redis | None) -> Store:
    if redis is None:
        return MemoryStore()
    return RedisWithMemoryStore(RedisStore(redis, namespace="safe_share"))
