"""Sign-out holds: it ends the session everywhere or says clearly that it did not, and the
cookies it clears are really cleared by browsers (a `__Host-` cookie needs Secure to be set,
and to be cleared)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.settings import Settings
from tests.support.apps import FrozenClock, client_of, serving
from tests.support.flows import csrf_headers, sign_in
from tests.support.people import STAFF
from tests.support.services import own_redis

HTTPS_BASE = "https://testserver.local"


def set_cookies(headers: list[str], name: str) -> list[str]:
    return [value for value in headers if value.startswith(f"{name}=")]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_clearing_host_cookies_carries_secure_and_path(
    make_settings: Callable[..., Settings], database_url: str, issuer: str, clock: FrozenClock
) -> None:
    settings = make_settings(database_url, base_url=HTTPS_BASE)
    async with serving(settings, clock) as app, client_of(app, HTTPS_BASE) as staff:
        signed = await sign_in(staff, issuer, STAFF)
        assert signed.status_code == 303
        cleared_state = set_cookies(signed.headers.get_list("set-cookie"), "safe_share_login")
        assert len(cleared_state) == 1
        assert "Max-Age=0" in cleared_state[0]
        assert "Secure" in cleared_state[0]
        assert "HttpOnly" in cleared_state[0]
        assert "Path=/auth" in cleared_state[0]
        assert staff.cookies.get("__Host-safe_share")

        out = await staff.post("/auth/logout", headers=csrf_headers(staff))
        assert out.status_code == 303
        cleared = set_cookies(out.headers.get_list("set-cookie"), "__Host-safe_share")
        assert len(cleared) == 1
        assert "Max-Age=0" in cleared[0]
        assert "Secure" in cleared[0]
        assert "Path=/" in cleared[0]
        assert "Domain" not in cleared[0]  # a __Host- cookie must not name a domain


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_sign_out_during_a_redis_outage_is_refused_not_undone(
    make_settings: Callable[..., Settings], database_url: str, issuer: str, clock: FrozenClock
) -> None:
    with own_redis() as server:
        settings = make_settings(database_url, redis_url=server.url)
        async with (
            serving(settings, clock) as app,
            client_of(app) as staff,
            client_of(app) as thief,
        ):
            await sign_in(staff, issuer, STAFF)
            cookie = staff.cookies.get("safe_share_session") or ""
            thief.cookies.set("safe_share_session", cookie)  # a copy of the cookie
            assert STAFF in (await thief.get("/")).text

            server.freeze()
            try:
                out = await staff.post("/auth/logout", headers=csrf_headers(staff))
                # Not a 303 that pretends: Redis would bring the session back.
                assert out.status_code == 503, out.text
                assert "Sign-out did not finish" in out.text
                assert out.headers["retry-after"]
                assert not set_cookies(out.headers.get_list("set-cookie"), "safe_share_session")
            finally:
                server.thaw()

            # "You may still be signed in": a delete that timed out may still reach Redis when
            # it thaws. Either way, signing out again now holds everywhere.
            assert (await staff.get("/")).status_code == 200
            out = await staff.post("/auth/logout", headers=csrf_headers(staff))
            assert out.status_code == 303
            page = await thief.get("/")
            assert page.status_code == 200
            assert STAFF not in page.text
