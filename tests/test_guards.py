"""Who may reach which route (app/web/guards.py): declared on the routes, checked by
RequestMiddleware before the handler and before the body is read, refused in the visitor's
language. The table below is the whole declaration, so a change to it is a deliberate one."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest
from litestar import Controller, Litestar, get
from litestar.handlers.base import BaseRouteHandler

from app.db.tables import TABLES
from app.web.guards import REQUIRES, SIGN_IN_NEXT, Access, required_access
from tests.support.flows import (
    CSRF_COOKIE,
    create_secret,
    csrf_headers,
    prime_csrf,
    sign_in,
    signed_in,
)
from tests.support.people import CUSTOMER, STAFF

PARAM = re.compile(r"\{[^}]+\}")
SIGNED_IN = frozenset({Access.SIGNED_IN})

EXPECTED: dict[tuple[str, str], frozenset[Access]] = {
    ("GET", "/"): frozenset(),
    ("POST", "/language"): frozenset(),
    ("GET", "/healthz"): frozenset(),
    ("GET", "/static/{name:str}"): frozenset(),
    ("GET", "/auth/login"): frozenset(),
    ("GET", "/auth/callback"): frozenset(),
    ("POST", "/auth/logout"): frozenset(),
    # A guest needs no account: the invitation's token is the permission.
    ("GET", "/i/{token:str}"): frozenset(),
    ("POST", "/i/{token:str}"): frozenset(),
    ("POST", "/secrets"): SIGNED_IN,
    ("GET", "/s/{secret_id:str}"): SIGNED_IN,
    ("POST", "/s/{secret_id:str}/reveal"): SIGNED_IN,
    ("POST", "/s/{secret_id:str}/file"): SIGNED_IN,
    ("POST", "/s/{secret_id:str}/revoke"): SIGNED_IN,
    ("GET", "/dashboard"): SIGNED_IN,
    ("GET", "/dashboard/secrets/{secret_id:str}"): SIGNED_IN,
    ("GET", "/dashboard/secrets/{secret_id:str}/revoke"): SIGNED_IN,
    ("GET", "/dashboard/secrets/{secret_id:str}/trail"): SIGNED_IN,
    ("GET", "/invitations"): frozenset({Access.STAFF}),
    # Signed in only: the handler refuses a customer itself, and puts the try on the trail.
    ("POST", "/invitations"): SIGNED_IN,
    ("POST", "/invitations/{invitation_id:str}/revoke"): frozenset({Access.STAFF}),
    ("POST", "/received/{secret_id:str}/reveal"): SIGNED_IN,
    ("POST", "/received/{secret_id:str}/file"): SIGNED_IN,
    ("GET", "/audit"): frozenset({Access.AUDITOR}),
    ("GET", "/audit.csv"): frozenset({Access.AUDITOR}),
}


def declared(app: Litestar) -> dict[tuple[str, str], tuple[BaseRouteHandler, frozenset[Access]]]:
    found = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            for method in handler.http_methods - {"OPTIONS"}:  # Litestar's own answer
                found[(method, route.path)] = (handler, required_access(handler))
    return found


pytestmark_db = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


@pytestmark_db
def test_every_route_declares_who_may_reach_it(app: Litestar) -> None:
    assert {key: needs for key, (_h, needs) in declared(app).items()} == EXPECTED
    for handler, _needs in declared(app).values():
        assert handler.resolve_guards() == []  # one mechanism: ours, not Litestar's too


def test_a_handler_adds_to_its_controllers_requirement_and_cannot_loosen_it() -> None:
    class Audited(Controller):
        opt: Mapping[str, Any] = {REQUIRES: Access.AUDITOR}

        @get("/a", sync_to_thread=False)
        def inherits(self) -> str:
            return ""

        @get("/b", sync_to_thread=False, opt={REQUIRES: Access.SIGNED_IN})
        def adds(self) -> str:
            return ""

        @get("/c", sync_to_thread=False, opt={REQUIRES: Access.STAFF, SIGN_IN_NEXT: "/"})
        def also_staff(self) -> str:
            return ""

    app = Litestar([Audited], openapi_config=None)
    needs = {path: n for (_m, path), (_h, n) in declared(app).items()}
    assert needs == {
        "/a": {Access.AUDITOR},
        "/b": {Access.AUDITOR, Access.SIGNED_IN},
        "/c": {Access.AUDITOR, Access.STAFF},
    }


def test_a_wrong_declaration_fails_at_start() -> None:
    @get("/x", sync_to_thread=False, opt={REQUIRES: "staff"})
    def typo() -> str:
        return ""

    with pytest.raises(TypeError):
        declared(Litestar([typo], openapi_config=None))


@pytestmark_db
async def test_signed_out_visitors_get_the_sign_in_page_in_their_language_everywhere(
    running_app: Litestar,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
) -> None:
    staff = await signed_in(new_client, issuer, STAFF)
    secret_id, _key = await create_secret(staff, recipient_email=CUSTOMER)
    visitor = new_client()
    visitor.headers["accept-language"] = "de"
    await prime_csrf(visitor)
    guarded = [(k, h) for k, (h, needs) in declared(running_app).items() if needs]
    assert len(guarded) == sum(1 for needs in EXPECTED.values() if needs)
    before = [await table.count() for table in TABLES]
    for (method, path), handler in guarded:
        url = PARAM.sub(secret_id, path)
        back_to = handler.opt.get(SIGN_IN_NEXT, url if method == "GET" else "/")
        back_to = back_to.format(secret_id=secret_id, invitation_id=secret_id)
        for htmx in (False, True):
            headers = csrf_headers(visitor, htmx)
            if method == "POST":
                response = await visitor.post(url, data={"key": "k"}, headers=headers)
            else:
                response = await visitor.get(url, headers=headers)
            assert response.status_code == 401, (method, path, htmx)
            if htmx:
                assert response.headers["hx-redirect"] == back_to
                continue
            assert 'lang="de"' in response.text, (method, path)
            assert response.headers["content-language"] == "de"
            assert f"/auth/login?next={back_to}" in response.text, (method, path)
    assert [await table.count() for table in TABLES] == before


@pytestmark_db
async def test_a_missing_role_is_refused_in_the_visitors_language(
    customer: httpx.AsyncClient,
) -> None:
    customer.headers["accept-language"] = "de"
    for url, says in (
        ("/invitations", "Nur Prowise-Mitarbeitende können Gäste einladen"),
        ("/audit", "Nur Auditoren können das gesamte Audit-Protokoll sehen."),
        ("/audit.csv", "Nur Auditoren können das gesamte Audit-Protokoll sehen."),
    ):
        response = await customer.get(url)
        assert response.status_code == 403, url
        assert says in response.text
        assert 'lang="de"' in response.text
    revoke = await customer.post(
        "/invitations/whatever/revoke", headers=csrf_headers(customer, htmx=True)
    )
    assert revoke.status_code == 403
    assert "Nur Prowise-Mitarbeitende" in revoke.text
    assert "<html" not in revoke.text  # htmx gets the fragment


async def asgi_post(
    app: Litestar, path: str, headers: list[tuple[bytes, bytes]]
) -> tuple[int, bool]:
    """A POST whose body never arrives: its status, and whether anything tried to read it."""
    statuses: list[int] = []
    read: list[bool] = []

    async def receive() -> dict[str, Any]:
        read.append(True)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver.local"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver.local", 80),
    }
    await asyncio.wait_for(app(scope, receive, send), 10)  # type: ignore[arg-type]
    return statuses[0], bool(read)


@pytestmark_db
async def test_a_streamed_upload_is_refused_before_its_body_is_read(
    running_app: Litestar, client: httpx.AsyncClient, issuer: str
) -> None:
    await prime_csrf(client)
    token = (client.cookies.get(CSRF_COOKIE) or "").encode()
    multipart = (b"content-type", b"multipart/form-data; boundary=b")
    cookie = (b"cookie", b"safe_share_csrf=" + token)
    headers = [multipart, cookie, (b"x-csrftoken", token)]
    # Signed out: the sign-in page, without a byte of the (maybe large) file read.
    assert await asgi_post(running_app, "/secrets", headers) == (401, False)
    # Signed in, the reader gets the stream, so the check above is what kept it unread.
    await sign_in(client, issuer, CUSTOMER)
    session = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    _status, read = await asgi_post(
        running_app, "/secrets", [multipart, (b"cookie", session.encode())]
    )
    assert read
