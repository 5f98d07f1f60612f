"""Safe Share driven like a browser with htmx: real OIDC sign-in, CSRF, create, open, reveal."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx

from benchmarks.httpclient import CookieJar, HttpConnection, HttpError, local_path
from benchmarks.loadgen import PoolExhaustedError, Recorder, Scenario, ScenarioError
from benchmarks.servers import LOOPBACK, ServerProcess
from benchmarks.targets import (
    CREATE,
    LANDING,
    REVEAL,
    ROUND_TRIP,
    SECRET_TEXT,
    PoolItem,
    Target,
    VirtualUser,
    find_link,
)

CSRF_COOKIE = "safe_share_csrf"
CSRF_HEADER = "x-csrftoken"
HTMX = {"HX-Request": "true"}
# Sign-ins are prepared a few at a time; the mock provider is a small threaded Flask server.
SIGN_IN_PARALLEL = 8
SIGN_IN_ATTEMPTS = 3


@dataclass(frozen=True)
class Identity:
    sub: str
    email: str
    jar: CookieJar


def creator_email(index: int) -> str:
    return f"bench-creator-{index}@prowise.com"


def recipient_email(index: int) -> str:
    # A customer: the common case is staff sending to someone outside.
    return f"bench-recipient-{index}@example.com"


class SafeShareTarget(Target):
    workloads = (LANDING, CREATE, ROUND_TRIP, REVEAL)

    def __init__(self, name: str, server: ServerProcess, issuer: str, max_users: int) -> None:
        super().__init__(server)
        self.name = name
        self.issuer = issuer
        self.max_users = max_users
        self.creators: list[Identity] = []
        self.recipients: list[Identity] = []

    async def setup(self) -> None:
        """Sign every virtual user in through the real OIDC path before anything is timed."""
        gate = asyncio.Semaphore(SIGN_IN_PARALLEL)
        # Short keep-alive: the provider closes idle connections after 5 s, which races reuse.
        limits = httpx.Limits(keepalive_expiry=1.0)
        async with httpx.AsyncClient(base_url=self.issuer, timeout=30, limits=limits) as provider:

            async def one(sub: str, email: str) -> Identity:
                async with gate:
                    # On a busy shared machine a sign-in step can time out; a new one is fine.
                    for attempt in range(1, SIGN_IN_ATTEMPTS + 1):
                        try:
                            return await self.sign_in(provider, sub, email)
                        except (httpx.HTTPError, HttpError, ScenarioError, OSError, TimeoutError):
                            if attempt == SIGN_IN_ATTEMPTS:
                                raise
                            await asyncio.sleep(0.5 * attempt)
                    raise AssertionError("unreachable")

            self.creators = list(
                await asyncio.gather(
                    *(one(f"creator-{i}", creator_email(i)) for i in range(self.max_users))
                )
            )
            self.recipients = list(
                await asyncio.gather(
                    *(one(f"recipient-{i}", recipient_email(i)) for i in range(self.max_users))
                )
            )

    async def sign_in(self, provider: httpx.AsyncClient, sub: str, email: str) -> Identity:
        claims = {"email": email, "email_verified": True, "name": sub, "groups": []}
        (await provider.put(f"/users/{sub}", json=claims)).raise_for_status()
        jar = CookieJar()
        conn = HttpConnection(LOOPBACK, self.port)
        try:
            login = await conn.request("GET", "/auth/login?next=/", jar=jar)
            authorize_url = login.header("location")
            if login.status != 302 or not authorize_url:
                raise ScenarioError(f"sign-in: /auth/login answered {login.status}")
            consent = await provider.post(authorize_url, data={"sub": sub})
            callback_url = consent.headers.get("location")
            if consent.status_code != 302 or not callback_url:
                raise ScenarioError(f"sign-in: provider answered {consent.status_code}")
            # The callback URL names the public https base URL; the server is plain http here.
            done = await conn.request("GET", local_path(callback_url), jar=jar)
            if done.status != 303:
                raise ScenarioError(f"sign-in: callback answered {done.status} {done.text[:200]}")
            home = await conn.request("GET", "/", jar=jar)
            if home.status != 200 or CSRF_COOKIE not in jar.cookies:
                raise ScenarioError(f"sign-in: home answered {home.status} without a CSRF cookie")
        finally:
            await conn.close()
        return Identity(sub, email, jar)

    async def make_users(self, concurrency: int, stack: AsyncExitStack) -> list[VirtualUser]:
        users = await super().make_users(concurrency, stack)
        for index, user in enumerate(users):
            user.creator = self.creators[index].jar.copy()
            user.recipient = self.recipients[index].jar.copy()
            user.recipient_email = self.recipients[index].email
        return users

    async def _create(self, user: VirtualUser, rec: Recorder) -> tuple[str, str]:
        form = {
            "content": SECRET_TEXT,
            "recipient_email": user.recipient_email,
            "expires_in": "86400",
            "max_views": "1",
        }
        headers = {**HTMX, CSRF_HEADER: user.creator.cookies.get(CSRF_COOKIE, "")}
        response = await rec.timed(
            "create",
            user.conn,
            "POST",
            "/secrets",
            (200,),
            headers=headers,
            form=form,
            jar=user.creator,
        )
        link = find_link(response.text)
        if link is None:
            raise ScenarioError("create: no /s/<id>#<key> link in the answer")
        return link

    async def _reveal(
        self, user: VirtualUser, rec: Recorder, secret_id: str, key: str, jar: CookieJar
    ) -> None:
        headers = {**HTMX, CSRF_HEADER: jar.cookies.get(CSRF_COOKIE, "")}
        response = await rec.timed(
            "reveal",
            user.conn,
            "POST",
            f"/s/{secret_id}/reveal",
            (200,),
            headers=headers,
            form={"key": key},
            jar=jar,
        )
        if SECRET_TEXT not in response.text:
            raise ScenarioError("reveal: the secret is not in the answer")

    async def make_pool_item(self, user: VirtualUser, scratch: Recorder) -> PoolItem:
        secret_id, key = await self._create(user, scratch)
        return PoolItem(secret_id, key, user.recipient)

    def scenario(self, workload: str) -> Scenario[VirtualUser]:
        async def landing(user: VirtualUser, rec: Recorder) -> None:
            # Staff's landing page: the create form, signed in.
            await rec.timed("landing", user.conn, "GET", "/", (200,), jar=user.creator)

        async def create(user: VirtualUser, rec: Recorder) -> None:
            await self._create(user, rec)

        async def round_trip(user: VirtualUser, rec: Recorder) -> None:
            secret_id, key = await self._create(user, rec)
            page = await rec.timed(
                "open", user.conn, "GET", f"/s/{secret_id}", (200,), jar=user.recipient
            )
            if 'id="reveal"' not in page.text:
                raise ScenarioError("open: no reveal form on the link page")
            await self._reveal(user, rec, secret_id, key, user.recipient)

        async def reveal(user: VirtualUser, rec: Recorder) -> None:
            if not user.pool:
                raise PoolExhaustedError
            item = user.pool.pop()
            await self._reveal(user, rec, item.secret, item.key, item.jar or user.recipient)

        scenarios = {LANDING: landing, CREATE: create, ROUND_TRIP: round_trip, REVEAL: reveal}
        return scenarios[workload]
