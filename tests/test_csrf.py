"""A forged cross-site POST is refused on every state-changing route, found from the route table.

New POST routes are covered automatically: the test walks `app.routes`, fills every path
parameter with a real secret id, and sends the victim's cookies without a valid token.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar

from app.db.tables import TABLES
from tests.support.flows import CSRF_COOKIE, create_secret, prime_csrf, sign_in
from tests.support.people import CUSTOMER, STAFF

PARAM = re.compile(r"\{[^}]+\}")
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def state_changing_routes(app: Litestar) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        for method in sorted(getattr(route, "methods", set()) & UNSAFE_METHODS):
            found.append((method, route.path))
    return found


async def snapshot() -> list[list[dict[str, Any]]]:
    return [await table.select().order_by(table._meta.primary_key) for table in TABLES]


FORM = {
    "content": "forged",
    "recipient_email": "mallory@example.com",
    "recipient_group": "service",
    "expires_in": "86400",
    "max_views": "1",
    "language": "de",
    "next": "/",
    "label": "forged",
}


async def test_forged_cross_site_posts_are_refused_on_every_route(
    running_app: Litestar,
    client: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
) -> None:
    routes = state_changing_routes(running_app)
    assert ("POST", "/secrets") in routes
    assert ("POST", "/s/{secret_id:str}/reveal") in routes

    staff = new_client()
    await sign_in(staff, issuer, STAFF)
    secret_id, key = await create_secret(staff, recipient_email=CUSTOMER)
    # The victim is signed in and has a CSRF cookie, as a real browser would.
    await sign_in(client, issuer, CUSTOMER)
    await prime_csrf(client)
    attacker = new_client()
    await prime_csrf(attacker)
    attackers_token = attacker.cookies.get(CSRF_COOKIE) or ""
    assert attackers_token
    assert attackers_token != client.cookies.get(CSRF_COOKIE)

    forgeries: dict[str, tuple[dict[str, str], dict[str, str]]] = {
        "no token": ({}, {}),
        "wrong token": ({"x-csrftoken": "x" * 64}, {"_csrf_token": "x" * 64}),
        "another browser's token": (
            {"x-csrftoken": attackers_token},
            {"_csrf_token": attackers_token},
        ),
        "cross-site origin": (
            {"origin": "https://evil.example", "referer": "https://evil.example/"},
            {},
        ),
    }
    before = await snapshot()
    for method, path in routes:
        url = PARAM.sub(secret_id, path)
        for name, (headers, fields) in forgeries.items():
            for htmx in (False, True):
                response = await client.request(
                    method,
                    url,
                    data={**FORM, "key": key, **fields},
                    headers={**headers, **({"hx-request": "true"} if htmx else {})},
                )
                assert response.status_code == 403, (method, path, name, response.status_code)
                assert "This request was refused" in response.text
                assert key not in response.text
                assert ("<html" in response.text) is not htmx
    assert await snapshot() == before
    # The forged sign-out did not end the victim's session, and the secret still opens once.
    home = await client.get("/")
    assert CUSTOMER in home.text
    revealed = await client.post(
        f"/s/{secret_id}/reveal",
        data={"key": key},
        headers={"x-csrftoken": client.cookies.get(CSRF_COOKIE) or ""},
    )
    assert revealed.status_code == 200
    assert "correct horse battery staple" in revealed.text


async def test_the_form_field_token_is_accepted_without_the_header(
    client: httpx.AsyncClient, issuer: str
) -> None:
    # Browsers without JavaScript post the hidden field; the same token must work there.
    await sign_in(client, issuer, STAFF)
    await prime_csrf(client)
    token = client.cookies.get(CSRF_COOKIE) or ""
    response = await client.post(
        "/secrets",
        data={
            "content": "via field",
            "recipient_email": CUSTOMER,
            "expires_in": "86400",
            "max_views": "1",
            "_csrf_token": token,
        },
    )
    assert response.status_code == 200


async def test_the_csrf_refusal_is_in_the_visitors_language(client: httpx.AsyncClient) -> None:
    # Rendered inside the request's language context, like every other page.
    await prime_csrf(client)
    response = await client.post(
        "/language", data={"language": "nl"}, headers={"accept-language": "de"}
    )
    assert response.status_code == 403
    assert 'lang="de"' in response.text
    assert response.headers["content-language"] == "de"
