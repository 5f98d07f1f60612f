"""Test helpers that drive the real protocol: sign-in through the OIDC provider, CSRF, links."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

LINK = re.compile(r"/s/([A-Za-z0-9_-]+)#([A-Za-z0-9_-]{43})")
CSRF_COOKIE = "safe_share_csrf"


@dataclass
class FrozenClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def set_identity(issuer: str, sub: str, claims: dict[str, Any]) -> None:
    async with httpx.AsyncClient() as idp:
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
    async with httpx.AsyncClient() as idp:
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
