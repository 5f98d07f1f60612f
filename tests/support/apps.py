"""The app in-process: test settings, the frozen clock, a running app on empty tables, clients
that talk to it over ASGI, and what its access log writes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
from asgi_lifespan import LifespanManager
from litestar import Litestar
from piccolo.engine.base import Engine

from app.db.engine import create_engine, start, stop
from app.db.tables import TABLES
from app.settings import Settings
from app.web.app import create_app

BASE_URL = "http://testserver.local"
# Rate limits are tested on their own (test_rate_limits.py), with values set there; elsewhere
# they must not turn a test's many requests (or a browser suite's sign-ins) into 429s. Every
# limit Settings has (all but the window), so one added later is lifted here too.
NO_RATE_LIMITS = {
    f"SAFE_SHARE_{limit.name.upper()}": "10000"
    for limit in fields(Settings)
    if limit.name.startswith("rate_") and limit.name != "rate_window_seconds"
}


@dataclass
class FrozenClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def empty_tables() -> None:
    """Every table emptied, on the engine the tables are bound to now."""
    for table in TABLES:
        await table.delete(force=True)


@asynccontextmanager
async def empty_engine(database_url: str) -> AsyncIterator[Engine[Any]]:
    """The tables bound to this database, emptied, for the block."""
    engine = create_engine(database_url)
    await start(engine)
    try:
        await empty_tables()
        yield engine
    finally:
        await stop(engine)


async def empty_database(database_url: str) -> None:
    """Every table emptied, through an engine of its own (for an app that is not running yet)."""
    async with empty_engine(database_url):
        pass


@asynccontextmanager
async def serving(settings: Settings, clock: FrozenClock | None = None) -> AsyncIterator[Litestar]:
    """A running app, in-process, on empty tables."""
    app = create_app(settings, clock=clock or FrozenClock())
    async with LifespanManager(cast(Any, app), startup_timeout=30, shutdown_timeout=30):
        await empty_tables()
        yield app


def client_of(app: Any, base_url: str = BASE_URL) -> httpx.AsyncClient:
    """A browser of the in-process app: its own cookies, talking to it over ASGI."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=cast(Any, app)), base_url=base_url)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def access_lines() -> Iterator[list[str]]:
    """Every line the access log writes inside the block."""
    logger = logging.getLogger("app.access")
    handler = _Lines()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
