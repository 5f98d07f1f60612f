"""Secret content is always shown as text: markup, template syntax and bidi controls come back
escaped and intact; an undecodable body gets a clear 400 with nothing stored, never a 500."""

from __future__ import annotations

import html
from collections.abc import Callable

import httpx
import pytest

from app.db.tables import Secret
from tests.support.flows import create_secret, csrf_headers, prime_csrf, reveal, sign_in
from tests.support.people import CUSTOMER, STAFF

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}} {% raw %} ${7*7} #{7*7}",
    "admin\u202egnp.exe \u2066isolate\u2069 \u200bzero-width",
    "</textarea><svg onload=alert(1)>",
    "javascript:alert(document.cookie)",
    "line one\r\nline two\ttabbed\x00nul",
    "emoji 🔑 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and ﷽",
]


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_hostile_content_is_revealed_escaped_and_intact(
    client: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
    payload: str,
) -> None:
    await sign_in(client, issuer, STAFF)
    customer = new_client()
    await sign_in(customer, issuer, CUSTOMER)
    for htmx in (False, True):
        secret_id, key = await create_secret(client, content=payload, recipient_email=CUSTOMER)
        response = await reveal(customer, secret_id, key, htmx=htmx)
        assert response.status_code == 200
        # The exact text, escaped once: what was sent is what is shown, and none of it runs.
        assert html.escape(payload, quote=False) in response.text.replace("&#34;", '"').replace(
            "&#39;", "'"
        ).replace("&quot;", '"')
        assert "<script>alert" not in response.text
        assert "<img src=x" not in response.text
        assert "<svg onload" not in response.text
        assert "49 " not in response.text


async def test_hostile_recipient_is_refused_and_shown_escaped(
    client: httpx.AsyncClient, issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    await prime_csrf(client)
    response = await client.post(
        "/secrets",
        data={
            "content": "x",
            "recipient_email": '"><script>alert(1)</script>@example.com',
            "expires_in": "86400",
            "max_views": "1",
        },
        headers=csrf_headers(client),
    )
    assert response.status_code == 400
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text
    assert await Secret.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        b"content=%FF%FEbad&recipient_email=bob%40example.com&expires_in=86400&max_views=1",
        b"content=\xff\xfe\xfdraw&recipient_email=bob%40example.com&expires_in=86400&max_views=1",
        b"content=%C3%28&recipient_email=bob%40example.com&expires_in=86400&max_views=1",
        b"content=%ED%A0%80surrogate&recipient_email=bob%40example.com&max_views=1",
        b"\xff\xff\xff=\xff&&&==&%%%",
    ],
)
async def test_undecodable_form_body_gets_a_clear_400_and_stores_nothing(
    client: httpx.AsyncClient, issuer: str, body: bytes
) -> None:
    await sign_in(client, issuer, STAFF)
    await prime_csrf(client)
    for htmx in (False, True):
        response = await client.post(
            "/secrets",
            content=body,
            headers={
                **csrf_headers(client, htmx),
                "content-type": "application/x-www-form-urlencoded",
            },
        )
        assert response.status_code == 400, response.text
        assert "could not be read" in response.text
        assert ("<html" in response.text) is not htmx
    assert await Secret.count() == 0
