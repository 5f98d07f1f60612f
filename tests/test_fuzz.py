"""Random bytes and strings at every form field of every POST route, and random paths, ids and
keys at GETs: never a 500, and a refused request (4xx) changes no secret or invitation.

Routes come from the app's route table, so routes added later are fuzzed too.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar

from app.db.tables import Invitation, Secret
from app.settings import Settings
from tests.support.apps import client_of, serving
from tests.support.flows import CSRF_COOKIE, create_secret, prime_csrf, sign_in

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)

PARAM = re.compile(r"\{[^}]+\}")
FIELDS = [
    "content",
    "recipient_email",
    "recipient_group",
    "expires_in",
    "max_views",
    "key",
    "language",
    "next",
    "label",
    "token",
    "_csrf_token",
]
NASTY = [
    "",
    " ",
    "0",
    "-1",
    "1e309",
    "99999999999999999999999",
    "86400",
    "3600",
    "service",
    "bob@example.com",
    "alice@prowise.com",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "\x00",
    "\u202e",
    "\ud800",
    "%",
    "%00",
    "../../etc/passwd",
    "//evil.example",
    "https://evil.example/",
    "A" * 43,
    "x" * 11_000,
]
anything = st.one_of(
    st.text(max_size=300),
    st.sampled_from(NASTY),
    st.binary(max_size=60).map(lambda raw: raw.decode("latin-1")),
)
path_part = st.one_of(
    st.text(min_size=1, max_size=60),
    st.sampled_from(["abc", "A" * 43, "x" * 500, "..", "%2e%2e", "' OR 1=1 --", "\u202e"]),
)


@dataclass
class World:
    app: Litestar
    browsers: dict[str, httpx.AsyncClient]
    secret_id: str


@pytest.fixture
async def world(
    make_settings: Callable[..., Settings], database_url: str, issuer: str
) -> AsyncIterator[World]:
    # Limits high enough that fuzzing reaches the handlers rather than the rate limiter.
    settings = make_settings(
        database_url,
        rate_reveal_per_secret="100000",
        rate_reveal_per_client="100000",
        rate_create_per_user="100000",
        rate_signin_per_client="100000",
        rate_guest_per_token="100000",
        rate_guest_per_client="100000",
    )
    async with serving(settings) as app:
        staff, customer, anonymous = client_of(app), client_of(app), client_of(app)
        await sign_in(staff, issuer, "alice@prowise.com")
        await sign_in(customer, issuer, "bob@example.com")
        secret_id, _key = await create_secret(staff, recipient_email="bob@example.com")
        for each in (staff, customer, anonymous):
            await prime_csrf(each)
        yield World(app, {"staff": staff, "customer": customer, "anonymous": anonymous}, secret_id)
        for each in (staff, customer, anonymous):
            await each.aclose()


async def state() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return (
        await Secret.select().order_by(Secret.id),
        await Invitation.select().order_by(Invitation.id),
    )


def fill(path: str, secret_id: str, values: list[str]) -> str:
    parts = iter(values)
    return PARAM.sub(lambda _m: quote(next(parts, secret_id), safe=""), path)


def post_routes(app: Litestar) -> list[str]:
    return sorted(r.path for r in app.routes if "POST" in getattr(r, "methods", set()))


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
async def test_random_form_input_never_fails_and_a_refusal_changes_nothing(
    world: World, data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(post_routes(world.app)), label="route")
    who = data.draw(st.sampled_from(["staff", "customer", "anonymous"]), label="who")
    if path == "/auth/logout":
        who = "anonymous"  # keep the signed-in browsers signed in for the next examples
    client = world.browsers[who]
    ids = data.draw(
        st.lists(st.one_of(st.just(world.secret_id), path_part), min_size=3, max_size=3)
    )
    url = fill(path, world.secret_id, ids)
    headers = {"x-csrftoken": client.cookies.get(CSRF_COOKIE) or ""}
    if data.draw(st.booleans(), label="htmx"):
        headers["hx-request"] = "true"
    before = await state()
    if data.draw(st.booleans(), label="raw body"):
        raw = data.draw(st.binary(max_size=400), label="body")
        response = await client.post(
            url,
            content=raw,
            headers={**headers, "content-type": "application/x-www-form-urlencoded"},
        )
    else:
        names = st.one_of(st.sampled_from(FIELDS), st.text(max_size=20))
        form = data.draw(st.dictionaries(names, anything, max_size=8), label="form")
        encoded = "&".join(
            f"{quote(k, safe='', errors='surrogatepass')}={quote(v, safe='', errors='surrogatepass')}"
            for k, v in form.items()
        )
        response = await client.post(
            url,
            content=encoded.encode(),
            headers={**headers, "content-type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code < 500, (path, response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert await state() == before, (path, response.status_code)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_random_paths_ids_and_keys_never_fail_and_gets_change_nothing(
    world: World, data: st.DataObject
) -> None:
    who = data.draw(st.sampled_from(["staff", "customer", "anonymous"]))
    client = world.browsers[who]
    prefix = data.draw(
        st.sampled_from(["/s/", "/static/", "/i/", "/received/", "/auth/", "/", "/secrets/"])
    )
    segments = data.draw(st.lists(path_part, min_size=1, max_size=3))
    path = prefix + "/".join(quote(s, safe="", errors="surrogatepass") for s in segments)
    params = data.draw(
        st.dictionaries(st.sampled_from(["next", "code", "state", "key"]), anything, max_size=3)
    )
    if prefix == "/auth/" and data.draw(st.booleans()):
        path = data.draw(st.sampled_from(["/auth/login", "/auth/callback"]))
    if params:
        path += "?" + "&".join(
            f"{k}={quote(v, safe='', errors='surrogatepass')}" for k, v in params.items()
        )
    before = await state()
    response = await client.get(path)
    assert response.status_code < 500, (path, response.status_code, response.text[:300])
    assert await state() == before
    if response.status_code in (301, 302, 303, 307, 308):
        # Never an open redirect: off-site only to the identity provider's sign-in.
        location = response.headers["location"]
        assert location.startswith("/") or "/oauth2/authorize" in location, location
        assert not location.startswith("//")
