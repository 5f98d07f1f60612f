"""Rate limits, checked by the request middleware before a handler runs: fixed windows per path pattern and per secret, token, client
or user, counted in Redis (shared by every process) or, without Redis, in this process.

If Redis fails, counting falls back to this process's memory (the same limits, applied per
process), with one warning; it switches back as soon as Redis answers again. Counter keys hold
hashes only: a secret id, an invitation token or a client address never reaches Redis.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from litestar.types import Scope
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from app.auth.identity import User
from app.settings import Settings
from app.web.clientaddress import client_address
from app.web.dependencies import Clock

logger = logging.getLogger("app.ratelimit")


@dataclass(frozen=True)
class Rule:
    """Requests matching `method` and `pattern` are counted; group 1 of the pattern is the target."""

    name: str
    method: str
    pattern: re.Pattern[str]
    per_target: int | None = None  # per secret id or invitation token
    per_client: int | None = None  # per client address
    per_user: int | None = None  # per signed-in user (per client address when signed out)
    # Count per_target per (target, person), so nobody can use up someone else's budget.
    target_per_person: bool = False


def rules_from_settings(settings: Settings) -> tuple[Rule, ...]:
    reveal = {
        "per_target": settings.rate_reveal_per_secret,
        "per_user": settings.rate_reveal_per_client,
        "per_client": settings.rate_reveal_per_client,
    }
    return (
        Rule(
            "reveal",
            "POST",
            re.compile(r"^/s/([^/]+)/reveal/?$"),
            **reveal,
            target_per_person=True,
        ),
        Rule(
            "received-reveal",
            "POST",
            re.compile(r"^/received/([^/]+)/reveal/?$"),
            **reveal,
            target_per_person=True,
        ),
        Rule(
            "guest",
            "POST",
            re.compile(r"^/i/([^/]+)/?$"),
            per_target=settings.rate_guest_per_token,
            per_client=settings.rate_guest_per_client,
        ),
        Rule(
            "signin",
            "GET",
            re.compile(r"^/auth/login/?$"),
            per_client=settings.rate_signin_per_client,
        ),
        # Every callback writes an audit row, so anonymous callers get the same budget.
        Rule(
            "callback",
            "GET",
            re.compile(r"^/auth/callback/?$"),
            per_client=settings.rate_signin_per_client,
        ),
        # Secrets and invitations share one creation budget per person.
        Rule(
            "create",
            "POST",
            re.compile(r"^/(?:secrets|invitations)/?$"),
            per_user=settings.rate_create_per_user,
        ),
    )


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def counter_keys(
    rule: Rule, match: re.Match[str], client: str, user: User | None
) -> list[tuple[str, int]]:
    """(counter key, limit) pairs for one request; values are hashed before they become keys."""
    keys: list[tuple[str, int]] = []
    who = f"user:{user.sub}" if user is not None else f"client:{client}"
    if rule.per_target is not None and match.groups():
        # Reveals: someone holding only a secret's id must not be able to use up its
        # recipient's attempts (a lockout), yet each person's guesses stay limited.
        target = f"{match.group(1)}\0{who}" if rule.target_per_person else match.group(1)
        keys.append((f"{rule.name}:target:{_digest(target)}", rule.per_target))
    if rule.per_client is not None:
        keys.append((f"{rule.name}:client:{_digest(client)}", rule.per_client))
    if rule.per_user is not None:
        keys.append((f"{rule.name}:who:{_digest(who)}", rule.per_user))
    return keys


class MemoryCounter:
    """Fixed-window counters in this process; old windows are dropped as the table grows."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.counts: dict[str, tuple[int, int]] = {}
        self.max_entries = max_entries

    async def hit(self, key: str, window_index: int, window_seconds: int) -> int:
        if len(self.counts) >= self.max_entries:
            self.counts = {k: v for k, v in self.counts.items() if v[0] >= window_index}
            if len(self.counts) >= self.max_entries:
                self.counts.clear()  # a flood of distinct keys: forget rather than grow
        index, count = self.counts.get(key, (window_index, 0))
        count = count + 1 if index == window_index else 1
        self.counts[key] = (window_index, count)
        return count

    async def hit_many(
        self, keys: Sequence[str], window_index: int, window_seconds: int
    ) -> list[int]:
        return [await self.hit(key, window_index, window_seconds) for key in keys]


# One EVALSHA per request: atomic (a script runs alone), so concurrent requests get distinct
# counts. The TTL is set on a window's first hit only: later hits must not keep a key alive.
# Key names and TTL are those of the earlier MULTI/INCR/EXPIRE version, so processes of both
# versions count in the same keys during a rolling deploy.
_HIT_MANY = """
local ttl = tonumber(ARGV[1])
local counts = {}
for i, key in ipairs(KEYS) do
    local count = redis.call('INCR', key)
    if count == 1 then
        redis.call('EXPIRE', key, ttl)
    end
    counts[i] = count
end
return counts
"""


class ScriptCaller:
    """One Lua script, sent as EVALSHA straight over connections of its own.

    Through redis-py's client every call also took the pool's lock, probed the socket for
    stray data and went through the retry machinery: more CPU than Redis's answer, twice a
    round trip. Here a connection is either idle (nothing in flight: it is only put back after
    its reply was read whole) or dropped: a failure or a cancelled request may leave half a
    reply on it, so it is never reused. A flushed script cache (NOSCRIPT) is refilled by
    sending the script itself once, which Redis caches again."""

    def __init__(self, redis: Redis, script: str, max_idle: int = 32) -> None:
        self.pool = redis.connection_pool
        self.script = script
        self.sha = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
        self.max_idle = max_idle
        self.idle: list[AbstractConnection] = []

    async def __call__(self, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        try:
            return await self._send("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self._send("EVAL", self.script, len(keys), *keys, *args)

    async def _send(self, *command: str | int) -> Any:
        if self.idle:
            try:
                return await self._send_on(self.idle.pop(), command)
            except RedisConnectionError:
                # Closed while idle (Redis restarted, or dropped it): once more, on a new one.
                # Should Redis have run the script before the line broke, the retry counts the
                # request twice: a limit then errs on the strict side.
                pass
        return await self._send_on(self._connect(), command)

    async def _send_on(self, connection: AbstractConnection, command: tuple[str | int, ...]) -> Any:
        try:
            await connection.send_command(*command)
            reply = await connection.read_response()
        except BaseException:
            await _drop(connection)
            raise
        if len(self.idle) < self.max_idle:
            self.idle.append(connection)
        else:
            await _drop(connection)
        return reply

    def _connect(self) -> AbstractConnection:
        # The pool's own recipe (class and settings, timeouts included); it connects on use.
        connection: AbstractConnection = self.pool.connection_class(**self.pool.connection_kwargs)
        return connection

    async def aclose(self) -> None:
        idle, self.idle = self.idle, []
        for connection in idle:
            await _drop(connection)


async def _drop(connection: AbstractConnection) -> None:
    with contextlib.suppress(Exception):
        await connection.disconnect(nowait=True)


class RedisCounter:
    """INCR (+ EXPIRE on a window's first hit) in Redis, shared by every app process; memory
    when Redis fails."""

    def __init__(
        self, redis: Redis, fallback: MemoryCounter, prefix: str = "safe_share:rl"
    ) -> None:
        self.fallback = fallback
        self.prefix = prefix
        self.degraded = False
        self.script = ScriptCaller(redis, _HIT_MANY)

    async def hit(self, key: str, window_index: int, window_seconds: int) -> int:
        return (await self.hit_many([key], window_index, window_seconds))[0]

    async def hit_many(
        self, keys: Sequence[str], window_index: int, window_seconds: int
    ) -> list[int]:
        """All of a request's counters in one round trip to Redis."""
        suffix = f":{window_index}"
        redis_keys = [f"{self.prefix}:{key}{suffix}" for key in keys]
        try:
            counts = await self.script(redis_keys, (window_seconds + 1,))
        except Exception as exc:  # any Redis failure: keep limiting, locally
            if not self.degraded:
                self.degraded = True
                logger.warning(
                    "rate limits: Redis unavailable (%s), counting in this process",
                    type(exc).__name__,
                )
            return await self.fallback.hit_many(keys, window_index, window_seconds)
        if self.degraded:
            self.degraded = False
            logger.warning("rate limits: Redis is back, counting in Redis again")
        return [int(count) for count in counts]

    async def aclose(self) -> None:
        await self.script.aclose()


Counter = MemoryCounter | RedisCounter


class RateLimiter:
    """Counts before the handler runs, so a refused request changes nothing."""

    def __init__(
        self,
        settings: Settings,
        counter: Counter,
        clock: Clock,
        rules: Sequence[Rule] | None = None,
    ) -> None:
        self.settings = settings
        self.counter = counter
        self.clock = clock
        self.rules = tuple(rules) if rules is not None else rules_from_settings(settings)
        # Runs on every request and most match no rule: try only the rules of their method
        # (GET: two), and read the clock only when something is counted.
        by_method: dict[str, list[Rule]] = {}
        for rule in self.rules:
            by_method.setdefault(rule.method, []).append(rule)
        self.rules_by_method = {method: tuple(rules) for method, rules in by_method.items()}

    async def check(self, scope: Scope) -> int | None:
        """None when the request may go on, else the seconds until the window ends."""
        rules = self.rules_by_method.get(str(scope.get("method", "GET")))
        if rules is None:
            return None
        path = scope["path"]
        counters: list[tuple[str, int]] = []
        client: str | None = None
        for rule in rules:
            match = rule.pattern.match(path)
            if match is None:
                continue
            if client is None:
                client = client_address(scope, self.settings)
            user: User | None = scope.get("state", {}).get("user")
            counters.extend(counter_keys(rule, match, client, user))
        if not counters:
            return None
        window = self.settings.rate_window_seconds
        now = self.clock().timestamp()
        window_index = int(now // window)
        counts = await self.counter.hit_many([key for key, _ in counters], window_index, window)
        if all(count <= limit for count, (_key, limit) in zip(counts, counters, strict=True)):
            return None
        return max(1, math.ceil((window_index + 1) * window - now))
