"""This process's copy of recently read sessions: most requests then skip a Redis round trip.

A copy lives a few seconds, and only while this process hears sign-outs: every sign-out is
announced on a Redis channel after the session is deleted there; each process drops its copy
and acknowledges, and the sign-out waits for as many acknowledgements as Redis delivered the
announcement to before it reports success. A process that loses the channel (Redis down,
connection broken) forgets every copy and stops keeping them until it hears the channel again.
So once a sign-out has answered, no process serves that session from a copy.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

logger = logging.getLogger("app.sessions")

SIGN_OUT_CHANNEL = "safe_share:signed_out"
ACK_PREFIX = "safe_share:signed_out_ack:"
ACK_WAIT_SECONDS = 0.5  # below the client's socket timeout
MAX_ENTRIES = 10_000


def sign_out_channel(redis: Redis) -> str:
    # Channels span the whole Redis server while keys (the acknowledgements among them) live in
    # one database: apps on other databases of the same server must not hear, or be counted.
    return f"{SIGN_OUT_CHANNEL}:{redis.connection_pool.connection_kwargs.get('db', 0)}"


class SessionCache:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.listening = False
        # Bumped by every drop: a read that began before a sign-out was announced must not
        # put back what the announcement removed.
        self.epoch = 0
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> Any | None:
        if not self.listening:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        left = entry[0] - self.clock()
        if not 0 < left <= self.seconds:  # expired, or the clock went back
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: str, value: Any, epoch: int) -> None:
        """Keep `value`, read from the store since `epoch` was current, unless a drop came
        in meanwhile."""
        if not self.listening or epoch != self.epoch:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()  # a flood of sessions: start over rather than grow
        self._entries[key] = (self.clock() + self.seconds, value)

    def drop(self, key: str) -> None:
        self.epoch += 1
        self._entries.pop(key, None)

    def _stop(self) -> None:
        self.listening = False
        self.epoch += 1
        self._entries.clear()

    async def listen(self, redis: Redis, retry_seconds: float = 1.0) -> None:
        """Runs for the app's lifetime: drops each announced session, reconnects when the
        channel breaks (and keeps nothing meanwhile)."""
        while True:
            try:
                async with redis.pubsub() as pubsub:
                    await pubsub.subscribe(sign_out_channel(redis))
                    while True:
                        message = await pubsub.get_message(timeout=1.0)
                        if message is None:
                            continue
                        if message["type"] == "subscribe":
                            self.listening = True
                        elif message["type"] == "message":
                            await self._dropped(redis, message["data"])
            except asyncio.CancelledError:
                self._stop()
                raise
            except Exception as exc:
                if self.listening:
                    logger.warning(
                        "sign-out channel lost (%s): sessions uncached", type(exc).__name__
                    )
                self._stop()
            await asyncio.sleep(retry_seconds)

    async def _dropped(self, redis: Redis, data: bytes) -> None:
        key, _, ack = data.decode("ascii", "replace").partition(" ")
        self.drop(key)
        async with redis.pipeline(transaction=False) as pipe:
            pipe.rpush(ACK_PREFIX + ack, 1)
            pipe.expire(ACK_PREFIX + ack, 10)
            await pipe.execute()


class SignOutNotHeard(Exception):
    """Some process did not confirm it dropped its copy of the session in time."""


async def announce_sign_out(redis: Redis, key: str) -> None:
    """Tell every process to drop `key`, and wait until each that heard it has done so."""
    ack = secrets.token_hex(16)
    heard_by = await redis.publish(sign_out_channel(redis), f"{key} {ack}")
    for _ in range(heard_by):
        # BLPOP takes fractions of a second (Redis 6+); redis-py's typing says whole seconds.
        answer = await redis.execute_command(  # type: ignore[no-untyped-call]
            "BLPOP", ACK_PREFIX + ack, ACK_WAIT_SECONDS
        )
        if answer is None:
            raise SignOutNotHeard
    await redis.delete(ACK_PREFIX + ack)
