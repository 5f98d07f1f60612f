"""Real parts: PostgreSQL, Redis and an OIDC provider. When CI=true, a missing service fails."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from litestar import Litestar
from piccolo.engine.base import Engine

from app.db.engine import create_engine, migrate, start, stop
from app.db.tables import TABLES
from app.dev_identity import run_identity_provider
from app.settings import Settings, load_settings
from app.web.app import create_app
from tests.providers import django_idp  # noqa: F401 - the second provider, for every test
from tests.support import FrozenClock

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("SAFE_SHARE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("SAFE_SHARE_TEST_REDIS", "redis://127.0.0.1:6379/14")
BASE_URL = "http://testserver.local"
RATE_LIMITS = (
    "REVEAL_PER_SECRET",
    "REVEAL_PER_CLIENT",
    "GUEST_PER_TOKEN",
    "GUEST_PER_CLIENT",
    "SIGNIN_PER_CLIENT",
    "CREATE_PER_USER",
)


def service_missing(what: str) -> None:
    message = f"{what} is not reachable"
    if IN_CI:
        pytest.fail(message + " (CI=true: services must be up)")
    pytest.skip(message)


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@pytest.fixture(scope="session")
def issuer() -> Iterator[str]:
    with run_identity_provider(port=0) as url:
        yield url


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    """A fresh database for this test run, dropped afterwards."""
    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError):
        service_missing("PostgreSQL")
    name = f"safe_share_test_{os.getpid()}_{secrets.token_hex(3)}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = create_engine(url)
    await start(engine)
    await migrate(engine)
    await stop(engine)
    try:
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = Path(tmp_path_factory.mktemp("db")) / "safe_share.sqlite"
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    await start(engine)
    await migrate(engine)
    await stop(engine)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not port_open("127.0.0.1", 6379):
        service_missing("Redis")
    return REDIS_TEST_URL


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Tests that take this run once on SQLite and once on PostgreSQL."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


async def _empty_tables(engine: Engine[Any]) -> None:
    for table in TABLES:
        await table.delete(force=True)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[Engine[Any]]:
    db = create_engine(database_url)
    await start(db)
    await _empty_tables(db)
    yield db
    await stop(db)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def make_settings(issuer: str, tmp_path: Path) -> Callable[..., Settings]:
    def build(database_url: str, **env: str) -> Settings:
        values = {
            "SAFE_SHARE_DATABASE_URL": database_url,
            "SAFE_SHARE_OIDC_ISSUER": issuer,
            "SAFE_SHARE_BASE_URL": BASE_URL,
            "SAFE_SHARE_SECRET_KEY": "test-master-key-" + "x" * 32,
            # Rate limits are tested on their own (test_rate_limits.py), with values set there;
            # elsewhere they must not turn a test's many requests into 429s.
            **{f"SAFE_SHARE_RATE_{name}": "10000" for name in RATE_LIMITS},
        }
        values.update({f"SAFE_SHARE_{k.upper()}": v for k, v in env.items()})
        return load_settings(values, dev_dir=tmp_path)

    return build


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> Litestar:
    db = create_engine(settings.database_url)
    await start(db)
    await _empty_tables(db)
    await stop(db)
    return create_app(settings, clock=clock)


@pytest.fixture
async def running_app(app: Litestar) -> AsyncIterator[Litestar]:
    """The app with its start-up and shut-down run in the test's own event loop."""
    async with LifespanManager(cast(Any, app), startup_timeout=30, shutdown_timeout=30):
        yield app


@pytest.fixture
async def client(running_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """A browser: its own cookies, talking to the app in-process over ASGI."""
    transport = httpx.ASGITransport(app=cast(Any, running_app))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as browser:
        yield browser


@pytest.fixture
async def new_client(running_app: Litestar) -> AsyncIterator[Callable[[], httpx.AsyncClient]]:
    """More browsers (own cookies) for the same running app."""
    opened: list[httpx.AsyncClient] = []

    def build() -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=cast(Any, running_app))
        browser = httpx.AsyncClient(transport=transport, base_url=BASE_URL)
        opened.append(browser)
        return browser

    yield build
    for browser in opened:
        await browser.aclose()
