"""No secret, key, token, cookie or full link in any log line, at any level, through a full flow.

Everything logged by the app process is captured (root logger at DEBUG: our loggers, httpx,
httpcore, authlib, litestar, asyncpg...), and the app is wrapped in our access log the way
uvicorn serves it. Only the identity provider's own loggers are left out: it is another service.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.settings import Settings
from app.web.accesslog import AccessLogMiddleware, redact_path, route_literals
from tests.support.apps import client_of, serving
from tests.support.flows import CSRF_COOKIE, LINK, csrf_headers, prime_csrf, reveal, set_identity
from tests.support.services import http_client

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
PROVIDER_LOGGERS = ("werkzeug", "oidc_provider_mock")
INVITE_LINK = re.compile(r"/i/([A-Za-z0-9_-]{16,})")


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(PROVIDER_LOGGERS):
            return
        text = self.format(record)  # includes the traceback when there is one
        self.lines.append(f"{text} {record.args!r}")


@contextmanager
def capturing() -> Iterator[Capture]:
    # Attached after the app is built: Litestar's logging set-up replaces the root handlers.
    root = logging.getLogger()
    handler = Capture()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


async def sign_in_noting_secrets(
    client: httpx.AsyncClient, issuer: str, email: str, noted: list[str]
) -> None:
    """The real code flow, remembering the OIDC code and state and the session cookie."""
    await set_identity(issuer, email, {"email": email, "email_verified": True, "name": "N"})
    start = await client.get("/auth/login", params={"next": "/"})
    assert start.status_code == 302
    async with http_client() as idp:
        approved = await idp.post(start.headers["location"], data={"sub": email})
    callback = urlsplit(approved.headers["location"])
    query = parse_qs(callback.query)
    noted += [query["code"][0], query["state"][0]]
    done = await client.get(f"{callback.path}?{callback.query}")
    assert done.status_code == 303
    noted += [value for name, value in client.cookies.items() if "session" in name]


async def test_a_full_flow_logs_no_secret_key_token_cookie_or_link(
    make_settings: Callable[..., Settings], database_url: str, issuer: str
) -> None:
    content = f"the-launch-code-{secrets.token_hex(8)}"
    noted: list[str] = [content]
    async with serving(make_settings(database_url)) as app:
        captured_cm = capturing()
        captured = captured_cm.__enter__()
        served = AccessLogMiddleware(app)
        async with client_of(served) as staff, client_of(served) as customer:
            await sign_in_noting_secrets(staff, issuer, "alice@prowise.com", noted)
            await sign_in_noting_secrets(customer, issuer, "bob@example.com", noted)
            await prime_csrf(staff)
            created = await staff.post(
                "/secrets",
                data={
                    "content": content,
                    "recipient_email": "bob@example.com",
                    "expires_in": "3600",
                    "max_views": "1",
                },
                headers=csrf_headers(staff),
            )
            match = LINK.search(created.text)
            assert match
            secret_id, key = match.groups()
            noted += [key, secret_id, f"/s/{secret_id}#{key}"]
            noted += [staff.cookies.get(CSRF_COOKIE) or "", customer.cookies.get(CSRF_COOKIE) or ""]
            assert (await customer.get(f"/s/{secret_id}")).status_code == 200
            wrong = await reveal(customer, secret_id, key[::-1])
            assert wrong.status_code == 400
            opened = await reveal(
                customer, secret_id, f"http://testserver.local/s/{secret_id}#{key}"
            )
            assert content in opened.text
            assert (await reveal(customer, secret_id, key)).status_code == 404
            await guest_flow_if_built(app, staff, noted)
            await staff.post("/auth/logout", headers=csrf_headers(staff))
            await staff.get("/does/not/exist?code=abc")
        captured_cm.__exit__(None, None, None)

    logs = "\n".join(captured.lines)
    # The capture works: our access log and the app's own lines are in it.
    assert f"POST /s/{secret_id[:4]}…/reveal 200" in logs
    assert "GET /auth/callback 303" in logs
    assert "app.access" in logs
    for value in noted:
        assert value, "a value to look for was not found"
        assert value not in logs, f"leaked into the logs: {value[:6]}…"


async def guest_flow_if_built(app: object, staff: httpx.AsyncClient, noted: list[str]) -> None:
    """Invitation tokens must not be logged either; runs once the invitation routes exist."""
    paths = {getattr(route, "path", "") for route in getattr(app, "routes", [])}
    if "/invitations" not in paths:
        return
    response = await staff.post(
        "/invitations", data={"label": "for a guest"}, headers=csrf_headers(staff)
    )
    match = INVITE_LINK.search(response.text)
    if match is None:
        return
    token = match.group(1)
    noted.append(token)
    async with httpx.AsyncClient(
        transport=staff._transport, base_url="http://testserver.local"
    ) as guest:
        await guest.get(f"/i/{token}")
        await prime_csrf(guest)
        await guest.post(
            f"/i/{token}", data={"content": "from a guest"}, headers=csrf_headers(guest)
        )


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/s/AbCdEfGhIjKlMnOpQrStUv", "/s/AbCd…"),
        ("/s/AbCdEfGhIjKlMnOpQrStUv/reveal", "/s/AbCd…/reveal"),
        ("/i/tokentokentokentokentoken", "/i/toke…"),
        ("/received/AbCdEfGhIjKl/reveal", "/received/AbCd…/reveal"),
        ("/auth/callback", "/auth/callback"),
        ("/x\r\nFAKE 200", "/x??F…"),
    ],
)
def test_access_log_paths_show_no_ids_tokens_or_forged_lines(
    database_url: str, path: str, shown: str
) -> None:
    literals = route_literals(
        ["/s/{id:str}/reveal", "/i/{t:str}", "/received/{id:str}/reveal", "/auth/callback"]
    )
    assert redact_path(path, literals) == shown
