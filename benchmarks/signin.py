"""Sign-in before timing: each virtual user goes through the real OIDC flow once, with httpx;
wrk then replays the session and CSRF cookies it got."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

CSRF_COOKIE = "safe_share_csrf"
# Sign-ins are prepared a few at a time; the mock provider is a small threaded Flask server.
SIGN_IN_PARALLEL = 8
SIGN_IN_ATTEMPTS = 3


class SignInError(RuntimeError):
    """A step of the sign-in did not answer as a working server does."""


@dataclass(frozen=True)
class Identity:
    cookie: str  # the Cookie header: session and CSRF cookies
    csrf: str
    email: str


def creator_email(index: int) -> str:
    return f"bench-creator-{index}@prowise.com"


def recipient_email(index: int) -> str:
    # A customer: the common case is staff sending to someone outside.
    return f"bench-recipient-{index}@example.com"


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def remember(jar: dict[str, str], response: httpx.Response) -> None:
    # By hand: the servers set Secure cookies (production settings) over plain loopback http.
    for raw in response.headers.get_list("set-cookie"):
        name, sep, value = raw.partition(";")[0].strip().partition("=")
        if sep and name:
            jar[name] = value.strip('"')


async def sign_in(
    app: httpx.AsyncClient, provider: httpx.AsyncClient, sub: str, email: str
) -> Identity:
    claims = {"email": email, "email_verified": True, "name": sub, "groups": []}
    (await provider.put(f"/users/{sub}", json=claims)).raise_for_status()
    jar: dict[str, str] = {}

    def cookie() -> dict[str, str]:
        return {"cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}

    login = await app.get("/auth/login?next=/", headers=cookie())
    remember(jar, login)
    if login.status_code != 302:
        raise SignInError(f"/auth/login answered {login.status_code}")
    consent = await provider.post(login.headers["location"], data={"sub": sub})
    if consent.status_code != 302:
        raise SignInError(f"the provider answered {consent.status_code}")
    done = await app.get(local_path(consent.headers["location"]), headers=cookie())
    remember(jar, done)
    if done.status_code != 303:
        raise SignInError(f"the callback answered {done.status_code}: {done.text[:200]}")
    home = await app.get("/", headers=cookie())
    remember(jar, home)
    if home.status_code != 200 or CSRF_COOKIE not in jar:
        raise SignInError(f"home answered {home.status_code} without a CSRF cookie")
    return Identity(cookie()["cookie"], jar[CSRF_COOKIE], email)


async def write_identities(app_url: str, issuer: str, users: int, path: Path) -> None:
    """Sign in `users` creator/recipient pairs; one tab-separated line per pair for wrk."""
    gate = asyncio.Semaphore(SIGN_IN_PARALLEL)
    # Short keep-alive: the provider closes idle connections after 5 s, which races reuse.
    limits = httpx.Limits(keepalive_expiry=1.0)
    async with (
        httpx.AsyncClient(base_url=issuer, timeout=30, limits=limits) as provider,
        httpx.AsyncClient(base_url=app_url, timeout=30) as app,
    ):

        async def one(sub: str, email: str) -> Identity:
            async with gate:
                # On a busy shared machine a sign-in step can time out; a new one is fine.
                for attempt in range(1, SIGN_IN_ATTEMPTS + 1):
                    try:
                        return await sign_in(app, provider, sub, email)
                    except (httpx.HTTPError, SignInError, KeyError):
                        if attempt == SIGN_IN_ATTEMPTS:
                            raise
                        await asyncio.sleep(0.5 * attempt)
                raise AssertionError("unreachable")

        creators = await asyncio.gather(
            *(one(f"creator-{i}", creator_email(i)) for i in range(users))
        )
        recipients = await asyncio.gather(
            *(one(f"recipient-{i}", recipient_email(i)) for i in range(users))
        )
    lines = [
        "\t".join((c.cookie, c.csrf, r.cookie, r.csrf, r.email))
        for c, r in zip(creators, recipients, strict=True)
    ]
    await asyncio.to_thread(path.write_text, "\n".join(lines) + "\n")
