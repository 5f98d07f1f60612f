"""What each benchmarked server is and how its workloads drive it."""

from __future__ import annotations

import asyncio
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from benchmarks.httpclient import CookieJar, HttpConnection, HttpError
from benchmarks.loadgen import Recorder, Scenario, ScenarioError
from benchmarks.servers import LOOPBACK, ServerProcess

LANDING = "landing"
CREATE = "create"
ROUND_TRIP = "round_trip"
REVEAL = "reveal"

MAX_POOL_FAILURES = 20
SECRET_TEXT = "correct horse battery staple"  # noqa: S105 - the benchmark's only secret


@dataclass
class PoolItem:
    """A secret prepared before timing: its id (or link path), key, and its recipient's cookies."""

    secret: str
    key: str
    jar: CookieJar | None = None


@dataclass
class VirtualUser:
    """One load-generating client: its own keep-alive connection plus scenario state."""

    conn: HttpConnection
    # Signed-in identities (Safe Share only): who creates and who the secrets are for.
    creator: CookieJar = field(default_factory=CookieJar)
    recipient: CookieJar = field(default_factory=CookieJar)
    recipient_email: str = ""
    # Prepared before timing and shared by all users, so no user runs dry before the others.
    pool: list[PoolItem] = field(default_factory=list)


class Target(ABC):
    """A server under test. Subclasses say how to start it and how each workload talks to it."""

    name: str
    workloads: Sequence[str]

    def __init__(self, server: ServerProcess) -> None:
        self.server = server

    @property
    def port(self) -> int:
        return self.server.port

    async def setup(self) -> None:  # noqa: B027 - most targets need no setup
        """Once, after the server is ready and before any workload."""

    async def make_users(self, concurrency: int, stack: AsyncExitStack) -> list[VirtualUser]:
        shared: list[PoolItem] = []
        users = [
            VirtualUser(HttpConnection(LOOPBACK, self.port), pool=shared)
            for _ in range(concurrency)
        ]
        for user in users:
            stack.push_async_callback(user.conn.close)
        return users

    async def prepare_pool(self, users: list[VirtualUser], per_user: int) -> None:
        """Fill the shared pool for the reveal workload (untimed), in random order."""
        await asyncio.gather(*(self.fill_pool(user, per_user) for user in users))
        if users:
            random.shuffle(users[0].pool)

    async def fill_pool(self, user: VirtualUser, count: int) -> None:
        # A create that times out under heavy contention costs one item, not the whole run.
        scratch = Recorder()
        failures = 0
        for _ in range(count):
            try:
                user.pool.append(await self.make_pool_item(user, scratch))
            except (ScenarioError, HttpError, OSError, TimeoutError):
                failures += 1
                if failures > MAX_POOL_FAILURES:
                    raise
                await user.conn.close()

    async def make_pool_item(self, user: VirtualUser, scratch: Recorder) -> PoolItem:
        raise NotImplementedError

    @abstractmethod
    def scenario(self, workload: str) -> Scenario[VirtualUser]: ...


LINK_PATTERN = re.compile(r"/s/([A-Za-z0-9_-]+)#([A-Za-z0-9_-]+)")


def find_link(text: str) -> tuple[str, str] | None:
    match = LINK_PATTERN.search(text)
    return (match.group(1), match.group(2)) if match else None
