"""The second identity provider (django-oidc-provider, `tests/django_idp/`) for the sign-in
suite: started once per session as a subprocess (the `django_idp` fixture), reconfigured per
case, and driven through its real login form over HTTP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from tests.support.services import http_client

CLIENT_ID = "safe-share"
# Letters and digits only for the common case; the RFC 6749 encoding test picks its own.
CLIENT_SECRET = "django-idp-client-secret-0123456789abcdef"
PASSWORD = "correct-horse-battery"
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class DjangoIdp:
    issuer: str

    def configure(
        self,
        base_url: str,
        users: dict[str, dict[str, Any]],
        *,
        secret: str = CLIENT_SECRET,
        jwt_alg: str = "RS256",
        **options: Any,
    ) -> dict[str, Any]:
        """Replace the provider's whole configuration: client, users (username → claims)."""
        body = {
            "client": {
                "id": CLIENT_ID,
                "secret": secret,
                "jwt_alg": jwt_alg,
                "redirect_uris": [f"{base_url}/auth/callback"],
                "post_logout_redirect_uris": [f"{base_url}/"],
            },
            "users": {name: {"password": PASSWORD, "claims": c} for name, c in users.items()},
            **options,
        }
        response = httpx.post(f"{self.issuer}/_test/configure", json=body, timeout=30)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def last_token_auth(self) -> str:
        return str(httpx.get(f"{self.issuer}/_test/state", timeout=10).json()["token_auth"])

    def settings_env(self, **extra: str) -> dict[str, str]:
        """What Safe Share needs to use this provider (as `make_settings` keyword arguments)."""
        return {
            "oidc_issuer": self.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": CLIENT_SECRET,
            **extra,
        }


async def log_in_at_django(authorize_url: str, username: str, idp: httpx.AsyncClient) -> str:
    """The person at the provider: its login form, then back; returns the callback URL."""
    response = await idp.get(authorize_url)
    for _ in range(6):
        if response.status_code in (301, 302, 303):
            location = urljoin(str(response.url), response.headers["location"])
            if "/auth/callback" in location:
                return location
            response = await idp.get(location)
            continue
        match = CSRF_FIELD.search(response.text)
        assert response.status_code == 200, response.text[:2000]
        assert match, response.text[:2000]
        response = await idp.post(
            str(response.url),
            data={
                "csrfmiddlewaretoken": unescape(match.group(1)),
                "username": username,
                "password": PASSWORD,
            },
            headers={"Referer": str(response.url)},
        )
    raise AssertionError(f"no way back from the provider: {response.status_code}")


async def sign_in_at_django(
    client: httpx.AsyncClient, username: str, idp: httpx.AsyncClient | None = None
) -> httpx.Response:
    """The whole authorization code flow against the Django provider; the callback's answer."""
    start = await client.get("/auth/login", params={"next": "/"}, follow_redirects=False)
    assert start.status_code == 302, start.text
    if idp is None:
        async with http_client(timeout=30) as fresh:
            callback = await log_in_at_django(start.headers["location"], username, fresh)
    else:
        callback = await log_in_at_django(start.headers["location"], username, idp)
    parts = urlsplit(callback)
    return await client.get(f"{parts.path}?{parts.query}", follow_redirects=False)
