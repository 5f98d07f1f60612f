"""The protocol as a browser speaks it, over HTTP: sign-in through the OIDC provider, CSRF,
sharing and revealing, revoking, invitations, and a walk through every page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.support.people import AUDITOR, CUSTOMER, STAFF
from tests.support.services import http_client

LINK = re.compile(r"/s/([A-Za-z0-9_-]+)#([A-Za-z0-9_-]{43})")
INVITATION_LINK = re.compile(r"http://testserver\.local/i/([A-Za-z0-9_-]{16,64})")
RECEIVED_FORM = re.compile(r'action="/received/([A-Za-z0-9_-]+)/reveal"')
CSRF_COOKIE = "safe_share_csrf"


async def set_identity(issuer: str, sub: str, claims: dict[str, Any]) -> None:
    async with http_client() as idp:
        response = await idp.put(f"{issuer}/users/{sub}", json=claims)
        response.raise_for_status()


async def sign_in(
    client: httpx.AsyncClient,
    issuer: str,
    email: str,
    *,
    verified: bool = True,
    groups: list[str] | None = None,
    extra: dict[str, Any] | None = None,
    next_path: str = "/",
) -> httpx.Response:
    """The whole authorization code flow: app → provider's form → callback → session cookie."""
    claims = {
        "email": email,
        "email_verified": verified,
        "name": email.split("@", maxsplit=1)[0],
        "groups": groups or [],
        **(extra or {}),
    }
    await set_identity(issuer, email, claims)
    start = await client.get("/auth/login", params={"next": next_path}, follow_redirects=False)
    assert start.status_code == 302, start.text
    async with http_client() as idp:
        approved = await idp.post(start.headers["location"], data={"sub": email})
    assert approved.status_code == 302, approved.text
    callback = urlsplit(approved.headers["location"])
    return await client.get(f"{callback.path}?{callback.query}", follow_redirects=False)


def csrf_headers(client: httpx.AsyncClient, htmx: bool = False) -> dict[str, str]:
    headers = {"x-csrftoken": client.cookies.get(CSRF_COOKIE) or ""}
    if htmx:
        headers["hx-request"] = "true"
    return headers


async def prime_csrf(client: httpx.AsyncClient) -> None:
    if not client.cookies.get(CSRF_COOKIE):
        await client.get("/")


async def create_secret(
    client: httpx.AsyncClient,
    *,
    content: str = "correct horse battery staple",
    recipient_email: str | None = None,
    recipient_group: str | None = None,
    expires_in: str = "86400",
    max_views: str = "1",
    htmx: bool = False,
) -> tuple[str, str]:
    await prime_csrf(client)
    data = {"content": content, "expires_in": expires_in, "max_views": max_views}
    if recipient_email is not None:
        data["recipient_email"] = recipient_email
    if recipient_group is not None:
        data["recipient_group"] = recipient_group
    response = await client.post("/secrets", data=data, headers=csrf_headers(client, htmx))
    assert response.status_code == 200, response.text
    match = LINK.search(response.text)
    assert match, response.text
    return match.group(1), match.group(2)


async def reveal(
    client: httpx.AsyncClient, secret_id: str, key: str, htmx: bool = False
) -> httpx.Response:
    await prime_csrf(client)
    return await client.post(
        f"/s/{secret_id}/reveal", data={"key": key}, headers=csrf_headers(client, htmx)
    )


async def signed_in(
    new_client: Callable[[], httpx.AsyncClient], issuer: str, email: str, **claims: Any
) -> httpx.AsyncClient:
    """A new browser, signed in as `email` (`sign_in`'s keywords: groups, verified...)."""
    browser = new_client()
    await sign_in(browser, issuer, email, **claims)
    return browser


async def signed_in_auditor(
    new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> httpx.AsyncClient:
    return await signed_in(new_client, issuer, AUDITOR, groups=["auditors"])


async def revoke(
    browser: httpx.AsyncClient, secret_id: str, *, htmx: bool, view: str | None = "dashboard"
) -> httpx.Response:
    await prime_csrf(browser)
    data = {"view": view} if view else {}
    return await browser.post(
        f"/s/{secret_id}/revoke", data=data, headers=csrf_headers(browser, htmx)
    )


def main_of(page: str) -> str:
    """A page's own content, without the per-person header (CSRF token, who is signed in)."""
    return page[page.index('<main id="main"') : page.index("</main>")]


async def invite(
    staff: httpx.AsyncClient,
    *,
    label: str = "Jan at ACME",
    expires_in: str = "86400",
    htmx: bool = False,
) -> str:
    """A new invitation; its token."""
    await prime_csrf(staff)
    response = await staff.post(
        "/invitations",
        data={"label": label, "expires_in": expires_in},
        headers=csrf_headers(staff, htmx),
    )
    assert response.status_code == 200, response.text
    match = INVITATION_LINK.search(response.text)
    assert match, response.text
    return match.group(1)


async def guest_send(
    guest: httpx.AsyncClient, token: str, content: str = "guest-pa$$word", htmx: bool = False
) -> httpx.Response:
    await prime_csrf(guest)
    return await guest.post(
        f"/i/{token}", data={"content": content}, headers=csrf_headers(guest, htmx)
    )


async def received_secret_id(staff: httpx.AsyncClient) -> str:
    """The id of the (first) secret a guest sent in, from the inviter's /invitations."""
    page = await staff.get("/invitations")
    assert page.status_code == 200
    match = RECEIVED_FORM.search(page.text)
    assert match, page.text
    return match.group(1)


async def reveal_received(
    browser: httpx.AsyncClient, secret_id: str, htmx: bool = False
) -> httpx.Response:
    await prime_csrf(browser)
    return await browser.post(f"/received/{secret_id}/reveal", headers=csrf_headers(browser, htmx))


# Every page `visit_every_page` walks through, and the status each must answer with.
EVERY_PAGE = {
    "home signed out": 200,
    "not found": 404,
    "sign-in required": 401,
    "home staff": 200,
    "home customer": 200,
    "created": 200,
    "form errors": 400,
    "secret": 200,
    "wrong key": 400,
    "revealed": 200,
    "status": 200,
    "unavailable": 404,
}


async def visit_every_page(
    client: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
    *,
    headers: dict[str, str],
    extra_claims: dict[str, Any] | None = None,
) -> dict[str, httpx.Response]:
    """Home (signed out, staff, customer), created, secret, wrong key, revealed, status, errors;
    each checked for its status (EVERY_PAGE)."""
    pages: dict[str, httpx.Response] = {}
    anonymous = new_client()
    anonymous.headers.update(headers)
    pages["home signed out"] = await anonymous.get("/")
    pages["not found"] = await anonymous.get("/no/such/page")
    pages["sign-in required"] = await anonymous.get("/s/" + "A" * 22)

    client.headers.update(headers)
    await sign_in(client, issuer, STAFF, extra=extra_claims)
    pages["home staff"] = await client.get("/")
    customer = new_client()
    customer.headers.update(headers)
    await sign_in(customer, issuer, CUSTOMER, extra=extra_claims)
    pages["home customer"] = await customer.get("/")

    await prime_csrf(client)
    pages["created"] = await client.post(
        "/secrets",
        data={"content": "s3cret", "recipient_email": CUSTOMER, "expires_in": "86400"},
        headers=csrf_headers(client),
    )
    pages["form errors"] = await client.post(
        "/secrets", data={"content": "", "recipient_email": "nope"}, headers=csrf_headers(client)
    )
    secret_id, key = await create_secret(client, recipient_email=CUSTOMER, max_views="2")
    pages["secret"] = await customer.get(f"/s/{secret_id}")
    pages["wrong key"] = await reveal(customer, secret_id, "x" * 43)
    pages["revealed"] = await reveal(customer, secret_id, key)
    pages["status"] = await client.get(f"/s/{secret_id}")
    pages["unavailable"] = await customer.get("/s/" + "B" * 22)
    assert {name: page.status_code for name, page in pages.items()} == EVERY_PAGE
    return pages


def answered(response: httpx.Response, status: int) -> httpx.Response:
    """The response, once its status is the one expected: a check that something is *not* on a
    page proves nothing when the page is an error page."""
    assert response.status_code == status, (status, response.status_code, response.text[:2000])
    return response
