"""Bad input gets a clear 4xx with the form shown again; never a 500, never a lost view."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from app.db.tables import Secret
from tests.support.flows import create_secret, csrf_headers, prime_csrf, reveal, sign_in
from tests.support.people import CUSTOMER, STAFF

GOOD = {"content": "s3cret", "recipient_email": CUSTOMER, "expires_in": "86400", "max_views": "1"}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"content": ""}, "content", "Type the secret"),
        ({"content": "   \n  "}, "content", "Type the secret"),
        ({"content": "x" * 10_001}, "content", "too long"),
        ({"expires_in": "60"}, "expires_in", "1 hour, 1 day or 7 days"),
        ({"expires_in": "-1"}, "expires_in", "1 hour, 1 day or 7 days"),
        ({"max_views": "0"}, "max_views", "1 to 10"),
        ({"max_views": "11"}, "max_views", "1 to 10"),
        ({"max_views": "two"}, "max_views", "1 to 10"),
        ({"recipient_email": "not-an-email"}, "recipient_email", "email address"),
        ({"recipient_email": "a@b"}, "recipient_email", "email address"),
        ({"recipient_email": "x@example.com\r\nBcc: y@example.com"}, "recipient_email", "email"),
        ({"recipient_email": "a\x00b@example.com"}, "recipient_email", "email address"),
    ],
)
async def test_bad_create_input_reshows_the_form_with_a_message(
    client: httpx.AsyncClient, issuer: str, change: dict[str, str], field: str, message: str
) -> None:
    await sign_in(client, issuer, STAFF)
    await prime_csrf(client)
    for htmx in (False, True):
        response = await client.post(
            "/secrets", data={**GOOD, **change}, headers=csrf_headers(client, htmx)
        )
        assert response.status_code == 400
        assert message in response.text
        assert f'aria-describedby="{field}-error"' in response.text
        assert ("<html" in response.text) is not htmx
    assert await Secret.count() == 0


async def test_typed_content_survives_a_refused_form(
    client: httpx.AsyncClient, issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    await prime_csrf(client)
    response = await client.post(
        "/secrets",
        data={**GOOD, "content": "keep <me> & this", "max_views": "99"},
        headers=csrf_headers(client),
    )
    assert response.status_code == 400
    assert "keep &lt;me&gt; &amp; this" in response.text
    assert f'value="{CUSTOMER}"' in response.text


async def test_email_is_normalised_to_lower_case(client: httpx.AsyncClient, issuer: str) -> None:
    await sign_in(client, issuer, STAFF)
    secret_id, _key = await create_secret(client, recipient_email="  Bob@Example.COM ")
    row = await Secret.select(Secret.recipient_email).where(Secret.id == secret_id).first()
    assert row == {"recipient_email": CUSTOMER}


@pytest.mark.parametrize(
    "bad_key",
    ["", "short", "A" * 43, "not base64 at all !!!!!!!!!!!!!!!!!!!!!!!!!!", "https://x/s/y#zzz"],
)
async def test_wrong_or_malformed_key_spends_no_view(
    client: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
    bad_key: str,
) -> None:
    await sign_in(client, issuer, STAFF)
    customer = new_client()
    await sign_in(customer, issuer, CUSTOMER)
    secret_id, key = await create_secret(client, recipient_email=CUSTOMER)
    for htmx in (False, True):
        refused = await reveal(customer, secret_id, bad_key, htmx=htmx)
        assert refused.status_code == 400
        assert "This key does not open the secret" in refused.text
        assert 'aria-invalid="true"' in refused.text
    row = await Secret.select(Secret.views_left).where(Secret.id == secret_id).first()
    assert row == {"views_left": 1}
    assert (await reveal(customer, secret_id, key)).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/s/' OR 1=1 --",
        "/s/%00%01",
        "/s/" + "a" * 500,
        "/s/..%2F..%2Fetc%2Fpasswd",
        "/s/%E2%80%AE",
    ],
)
async def test_malformed_ids_get_the_not_available_page(
    client: httpx.AsyncClient, issuer: str, path: str
) -> None:
    await sign_in(client, issuer, CUSTOMER)
    response = await client.get(path)
    assert response.status_code == 404
    assert "not available" in response.text or "Page not found" in response.text


async def test_oversized_body_gets_413_not_500(client: httpx.AsyncClient, issuer: str) -> None:
    await sign_in(client, issuer, STAFF)
    await prime_csrf(client)
    response = await client.post(
        "/secrets", data={**GOOD, "content": "x" * 400_000}, headers=csrf_headers(client)
    )
    assert response.status_code == 413
    assert "larger than Safe Share accepts" in response.text


async def test_missing_csrf_token_is_refused(client: httpx.AsyncClient, issuer: str) -> None:
    await sign_in(client, issuer, STAFF)
    response = await client.post("/secrets", data=GOOD)
    assert response.status_code == 403
    assert await Secret.count() == 0


async def test_signed_out_visitor_cannot_create(client: httpx.AsyncClient) -> None:
    await prime_csrf(client)
    response = await client.post("/secrets", data=GOOD, headers=csrf_headers(client))
    assert response.status_code == 401
    assert "Sign in" in response.text
    assert await Secret.count() == 0
