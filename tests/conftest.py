"""Real parts: PostgreSQL, Redis and two OIDC providers. When CI=true, a missing service fails.

Fixtures live here (and in browser/conftest.py); what tests import lives in tests/support/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from asgi_lifespan import LifespanManager
from litestar import Litestar
from piccolo.engine.base import Engine

from app.db.engine import create_engine, migrate, start, stop
from app.dev_identity import run_identity_provider
from app.settings import Settings, load_settings
from app.web.app import create_app
from tests.support.apps import (
    BASE_URL,
    NO_RATE_LIMITS,
    FrozenClock,
    client_of,
    empty_database,
    empty_engine,
)
from tests.support.flows import prime_csrf, sign_in, signed_in
from tests.support.people import CUSTOMER, STAFF
from tests.support.providers import DjangoIdp
from tests.support.services import (
    REDIS_TEST_URL,
    ChildProcess,
    free_port,
    fresh_database,
    port_open,
    service_missing,
)


@pytest.fixture(scope="session")
def issuer() -> Iterator[str]:
    """The development identity provider (oidc-provider-mock), for every sign-in by default."""
    with run_identity_provider(port=0) as url:
        yield url


@pytest.fixture(scope="session")
def django_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DjangoIdp]:
    """The second provider (django-oidc-provider), for the sign-in suite."""
    port = free_port()
    folder = tmp_path_factory.mktemp("django-idp")
    issuer = f"http://127.0.0.1:{port}"
    env = {"DJANGO_IDP_ISSUER": issuer, "DJANGO_IDP_DB": str(folder / "idp.sqlite")}
    with ChildProcess(["tests.django_idp", str(port)], env, folder / "idp.log") as provider:
        provider.wait_until(lambda: port_open("127.0.0.1", port), "the Django provider")
        yield DjangoIdp(issuer)


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    """A fresh database for this test run, dropped afterwards."""
    async with fresh_database("safe_share_test") as url:
        yield url


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


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[Engine[Any]]:
    """The tables bound to `database_url`, emptied: for tests of the services without the app."""
    async with empty_engine(database_url) as db:
        yield db


@pytest.fixture
async def pg_engine(postgres_url: str) -> AsyncIterator[Engine[Any]]:
    """As `engine`, on PostgreSQL only."""
    async with empty_engine(postgres_url) as db:
        yield db


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[Engine[Any]]:
    """As `engine`, on SQLite only."""
    async with empty_engine(sqlite_url) as db:
        yield db


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
            **NO_RATE_LIMITS,
        }
        values.update({f"SAFE_SHARE_{k.upper()}": v for k, v in env.items()})
        return load_settings(values, dev_dir=tmp_path)

    return build


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> Litestar:
    await empty_database(settings.database_url)
    return create_app(settings, clock=clock)


@pytest.fixture
async def running_app(app: Litestar) -> AsyncIterator[Litestar]:
    """The app with its start-up and shut-down run in the test's own event loop."""
    async with LifespanManager(cast(Any, app), startup_timeout=30, shutdown_timeout=30):
        yield app


@pytest.fixture
async def client(running_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """A browser: its own cookies, talking to the app in-process over ASGI."""
    async with client_of(running_app) as browser:
        yield browser


@pytest.fixture
async def new_client(running_app: Litestar) -> AsyncIterator[Callable[[], httpx.AsyncClient]]:
    """More browsers (own cookies) for the same running app."""
    opened: list[httpx.AsyncClient] = []

    def build() -> httpx.AsyncClient:
        browser = client_of(running_app)
        opened.append(browser)
        return browser

    yield build
    for browser in opened:
        await browser.aclose()


@pytest.fixture
async def staff(client: httpx.AsyncClient, issuer: str) -> httpx.AsyncClient:
    """The test's `client`, signed in as STAFF, with its CSRF cookie."""
    await sign_in(client, issuer, STAFF)
    await prime_csrf(client)
    return client


@pytest.fixture
async def customer(new_client: Callable[[], httpx.AsyncClient], issuer: str) -> httpx.AsyncClient:
    """Another browser, signed in as CUSTOMER, with its CSRF cookie."""
    browser = await signed_in(new_client, issuer, CUSTOMER)
    await prime_csrf(browser)
    return browser
