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
from litestar._parsers import parse_url_encoded_form_data
from litestar.middleware.csrf import generate_csrf_token

from app import crypto
from app.db.tables import TABLES, Invitation, Secret, SecretChunk
from app.settings import Settings
from app.web.csrf import CsrfTokens
from tests.support.apps import client_of
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


def csrf_cookies_set(response: httpx.Response) -> list[str]:
    return [
        value
        for value in response.headers.get_list("set-cookie")
        if value.startswith(CSRF_COOKIE + "=")
    ]


def page_tokens(html: str) -> set[str]:
    """The tokens a page carries: htmx's header and every form's hidden field."""
    found = set(re.findall(r'"x-csrftoken": "([^"]*)"', html))
    return found | set(re.findall(r'name="_csrf_token" value="([^"]*)"', html))


def give_cookie(client: httpx.AsyncClient, token: str) -> None:
    client.cookies.set(CSRF_COOKIE, token, domain=httpx.URL(str(client.base_url)).host)


async def test_an_anonymous_visitor_gets_the_cookie_once_and_pages_carry_it(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get("/")
    [header] = csrf_cookies_set(first)
    attributes = {part.strip().lower() for part in header.split(";")[1:]}
    assert attributes == {"path=/", "samesite=lax", "httponly"}  # no Secure over http
    token = client.cookies.get(CSRF_COOKIE) or ""
    assert len(token) == 128
    assert page_tokens(first.text) == {token}
    for path in ("/", "/auth/login?next=/", "/no-such-page"):
        again = await client.get(path, follow_redirects=False)
        assert csrf_cookies_set(again) == [], path
    assert page_tokens((await client.get("/")).text) == {token}


async def test_the_sign_in_page_of_a_guarded_route_carries_a_usable_token(
    client: httpx.AsyncClient,
) -> None:
    # Refused before the handler, yet its language picker must post: the cookie comes along.
    page = await client.get("/dashboard")
    assert page.status_code == 401
    token = client.cookies.get(CSRF_COOKIE) or ""
    assert len(csrf_cookies_set(page)) == 1
    assert page_tokens(page.text) == {token}
    chosen = await client.post("/language", data={"language": "de", "_csrf_token": token})
    assert chosen.status_code == 303


async def test_a_cookie_we_no_longer_sign_is_replaced_on_the_next_page(
    client: httpx.AsyncClient,
) -> None:
    # After the first master key changed: a reload must be enough to post again.
    stale = CsrfTokens(b"the previous key", secure=False).mint()
    give_cookie(client, stale)
    refused = await client.post(
        "/language", data={"language": "de"}, headers={"x-csrftoken": stale}
    )
    assert refused.status_code == 403
    page = await client.get("/")
    fresh = client.cookies.get(CSRF_COOKIE) or ""
    assert fresh != stale
    assert len(csrf_cookies_set(page)) == 1
    assert page_tokens(page.text) == {fresh}
    chosen = await client.post("/language", data={"language": "de"}, headers={"x-csrftoken": fresh})
    assert chosen.status_code == 303


async def test_a_token_litestars_middleware_minted_is_still_accepted(
    client: httpx.AsyncClient, settings: Settings, issuer: str
) -> None:
    # Browsers keep the cookie Litestar's CSRF middleware gave them before this deploy.
    await sign_in(client, issuer, STAFF)
    token = generate_csrf_token(secret=crypto.derive_key(settings.secret_keys[0], "csrf").hex())
    give_cookie(client, token)
    page = await client.get("/")
    assert csrf_cookies_set(page) == []
    assert page_tokens(page.text) == {token}
    created = await client.post(
        "/secrets",
        data={"content": "still valid", "recipient_email": CUSTOMER, "expires_in": "86400"},
        headers={"x-csrftoken": token, "hx-request": "true"},
    )
    assert created.status_code == 200
    assert await Secret.count() == 1
    chosen = await client.post("/language", data={"language": "de", "_csrf_token": token})
    assert chosen.status_code == 303


async def test_without_a_token_nothing_is_created_and_the_refusal_speaks_the_account_language(
    client: httpx.AsyncClient, issuer: str
) -> None:
    await sign_in(client, issuer, STAFF, extra={"locale": "nl"})
    await prime_csrf(client)
    for path, data in (
        ("/secrets", {"content": "no token", "recipient_email": CUSTOMER}),
        ("/invitations", {"expires_in": "3600"}),
    ):
        response = await client.post(path, data=data, headers={"accept-language": "de"})
        assert response.status_code == 403, path
        assert 'lang="nl"' in response.text
        assert response.headers["content-language"] == "nl"
        assert "This request was refused" not in response.text
    assert await Secret.count() == 0
    assert await Invitation.count() == 0


def pdf_upload(token_field: str | None) -> dict[str, Any]:
    data = {"recipient_email": CUSTOMER, "expires_in": "86400", "max_views": "1"}
    if token_field is not None:
        data["_csrf_token"] = token_field
    return {"data": data, "files": {"file": ("a.pdf", b"%PDF-1.4 not much", "application/pdf")}}


async def test_a_streamed_upload_refuses_every_bad_token_and_stores_nothing(
    staff: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient]
) -> None:
    good = staff.cookies.get(CSRF_COOKIE) or ""
    other = new_client()
    await prime_csrf(other)
    theirs = other.cookies.get(CSRF_COOKIE) or ""
    bad = {
        "another browser's": theirs,
        "forged signature": good[:64] + "0" * 64,
        "truncated": good[:-2],
        "non-ASCII": good[:-1] + "é",
        "empty": "",
    }
    for name, token in bad.items():
        as_field = await staff.post("/secrets", **pdf_upload(token))
        assert as_field.status_code == 403, name
        assert "This request was refused" in as_field.text
        if token.isascii():
            as_header = await staff.post(
                "/secrets", headers={"x-csrftoken": token}, **pdf_upload(None)
            )
            assert as_header.status_code == 403, name
    # The right token without the cookie is no good either.
    staff.cookies.delete(CSRF_COOKIE)
    no_cookie = await staff.post("/secrets", headers={"x-csrftoken": good}, **pdf_upload(None))
    assert no_cookie.status_code == 403
    assert await Secret.count() == 0
    assert await SecretChunk.count() == 0
    give_cookie(staff, good)
    accepted = await staff.post("/secrets", **pdf_upload(good))
    assert accepted.status_code == 200
    assert await Secret.count() == 1


async def test_odd_token_headers_are_refused_not_errors(client: httpx.AsyncClient) -> None:
    await prime_csrf(client)
    good = client.cookies.get(CSRF_COOKIE) or ""
    for value in (good.encode()[:-1] + b"\xe9", b"\xff" * 128, good.encode() * 100, b" "):
        response = await client.post(
            "/language", data={"language": "de"}, headers=[(b"x-csrftoken", value)]
        )
        assert response.status_code == 403, value[:10]


async def test_a_malformed_cookie_of_another_app_hides_none_of_ours(
    running_app: Litestar, client: httpx.AsyncClient, issuer: str
) -> None:
    # Another app on the same domain may set cookies Python's SimpleCookie rejects outright.
    await sign_in(client, issuer, STAFF)
    await prime_csrf(client)
    ours = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    token = client.cookies.get(CSRF_COOKIE) or ""
    async with client_of(running_app) as raw:  # no cookie jar of its own: the header as sent
        for header in (f'prefs={{"a":1}}; {ours}', f"{ours}; broken cookie; x=\\"):
            page = await raw.get("/", headers={"cookie": header})
            assert STAFF in page.text, header
            assert csrf_cookies_set(page) == []
            chosen = await raw.post(
                "/language",
                data={"language": "de"},
                headers={"cookie": header, "x-csrftoken": token},
            )
            assert chosen.status_code == 303, header


async def test_reveal_forms_are_not_kept_in_litestars_form_cache(
    new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    # Litestar's form parser caches the last 1024 bodies it parsed: a reveal's body holds the
    # link's key (and a passphrase). Ours lives in the request only.
    staff, customer = new_client(), new_client()
    await sign_in(staff, issuer, STAFF)
    await sign_in(customer, issuer, CUSTOMER)
    parse_url_encoded_form_data.cache_clear()
    for htmx in (False, True):
        secret_id, key = await create_secret(
            staff, content="kept nowhere", recipient_email=CUSTOMER
        )
        await prime_csrf(customer)
        token = customer.cookies[CSRF_COOKIE]
        headers = {"x-csrftoken": token, "hx-request": "true"} if htmx else {}
        data = {"key": key} if htmx else {"key": key, "_csrf_token": token}
        opened = await customer.post(f"/s/{secret_id}/reveal", data=data, headers=headers)
        assert opened.status_code == 200
        assert "kept nowhere" in opened.text
    assert parse_url_encoded_form_data.cache_info().currsize == 0
