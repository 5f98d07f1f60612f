"""Every response carries the security headers: pages, errors (404/405/413/429/500/503), static
files; pages are never cached, static files are cached for a year; HSTS outside development."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import httpx
import pytest
from asgi_lifespan import LifespanManager
from litestar import Litestar, get

from app.settings import Settings
from app.web.app import create_app
from tests.support.apps import FrozenClock, client_of
from tests.support.flows import csrf_headers, prime_csrf, sign_in

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ALWAYS = {
    "content-security-policy",
    "referrer-policy",
    "x-content-type-options",
    "x-frame-options",
}


def assert_secure(response: httpx.Response, *, hsts: bool, static: bool = False) -> None:
    present = {name.lower() for name in response.headers}
    missing = ALWAYS - present
    assert not missing, (response.request.url, response.status_code, missing)
    csp = response.headers["content-security-policy"]
    for directive in ("default-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert ("strict-transport-security" in present) is hsts
    if static:
        assert "max-age=31536000" in response.headers["cache-control"]
        assert "no-store" not in response.headers["cache-control"]
    else:
        assert response.headers["cache-control"] == "no-store"


@get("/test-only/boom", sync_to_thread=False)
def boom() -> str:
    raise RuntimeError("a bug")


@get("/test-only/db-down", sync_to_thread=False)
def db_down() -> str:
    raise ConnectionRefusedError("the database went away")


async def _responses(client: httpx.AsyncClient, issuer: str) -> list[tuple[httpx.Response, bool]]:
    await sign_in(client, issuer, "alice@prowise.com")
    await prime_csrf(client)
    home = await client.get("/")
    static_path = next(
        part.split('"')[0] for part in home.text.split('href="')[1:] if part.startswith("/static/")
    )
    big = {"content": "x" * 400_000, "recipient_email": "bob@example.com"}
    return [
        (home, False),
        (await client.get("/", headers={"hx-request": "true"}), False),
        (await client.get("/healthz"), False),
        (await client.get("/no/such/page"), False),
        (await client.get("/static/nope.css"), False),
        (await client.get("/secrets"), False),  # 405: POST only
        (await client.post("/secrets", data=big, headers=csrf_headers(client)), False),  # 413
        (await client.post("/secrets", data={"content": "no token"}), False),  # 403
        (await client.get("/test-only/boom"), False),  # 500
        (await client.get("/test-only/db-down"), False),  # 503
        (await client.get(static_path), True),
    ]


async def _serve(settings: Settings, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app: Litestar = create_app(settings, clock=FrozenClock())
    app.register(boom)
    app.register(db_down)
    async with LifespanManager(cast(Any, app)), client_of(app, base_url) as browser:
        yield browser


async def test_every_response_has_security_headers_in_development(
    make_settings: Callable[..., Settings], database_url: str, issuer: str
) -> None:
    settings = make_settings(database_url, rate_signin_per_client="1000")
    async for client in _serve(settings, "http://testserver.local"):
        responses = await _responses(client, issuer)
        statuses = [r.status_code for r, _static in responses]
        assert statuses == [200, 200, 200, 404, 404, 405, 413, 403, 500, 503, 200]
        assert set(responses[5][0].headers["allow"].split(", ")) == {"POST", "OPTIONS"}
        for response, static in responses:
            assert_secure(response, hsts=False, static=static)
        assert "Something went wrong" in responses[8][0].text
        assert "briefly unavailable" in responses[9][0].text
        assert responses[9][0].headers["retry-after"]


async def test_hsts_is_sent_outside_development(
    make_settings: Callable[..., Settings], database_url: str, issuer: str
) -> None:
    settings = make_settings(
        "postgresql://unused@127.0.0.1/unused",
        env="production",
        base_url="https://testserver.local",
        oidc_client_id="safe-share-test",
        oidc_client_secret="safe-share-test-secret",
        redis_url="redis://unused",
    )
    # Production refuses SQLite and needs Redis; these header checks touch neither.
    settings = Settings(**{**settings.__dict__, "database_url": database_url, "redis_url": None})
    async for client in _serve(settings, "https://testserver.local"):
        for path in ("/", "/no/such/page", "/healthz"):
            response = await client.get(path)
            assert_secure(response, hsts=True)
            assert "max-age=" in response.headers["strict-transport-security"]
