"""The life of a secret over HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from app.db.tables import AuditEvent, Secret
from tests.support.apps import FrozenClock
from tests.support.flows import answered, create_secret, reveal, sign_in
from tests.support.people import CUSTOMER, STAFF


async def test_recipient_reveals_once_then_the_link_is_dead(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    secret_id, key = await create_secret(
        staff, content="pa$$word\nline two", recipient_email=CUSTOMER
    )

    page = await customer.get(f"/s/{secret_id}")
    assert page.status_code == 200
    assert "Reveal secret" in page.text
    assert "pa$$word" not in page.text

    first = await reveal(customer, secret_id, key, htmx=True)
    assert first.status_code == 200
    assert "pa$$word\nline two" in first.text
    assert "<html" not in first.text  # htmx gets the fragment only

    second = await reveal(customer, secret_id, key)
    unknown = await reveal(customer, "A" * 22, key)
    assert second.status_code == unknown.status_code == 404
    assert second.text == unknown.text


async def test_full_page_reveal_without_javascript(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    secret_id, key = await create_secret(staff, recipient_email=CUSTOMER)
    # Without JS the recipient pastes the whole link into the key field.
    revealed = await reveal(customer, secret_id, f"http://testserver.local/s/{secret_id}#{key}")
    assert revealed.status_code == 200
    assert "<html" in revealed.text
    assert "correct horse battery staple" in revealed.text


async def test_htmx_create_returns_the_link_fragment(
    client: httpx.AsyncClient, issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    secret_id, _key = await create_secret(client, recipient_email=CUSTOMER, htmx=True)
    row = await Secret.select(Secret.recipient_email).where(Secret.id == secret_id).first()
    assert row == {"recipient_email": CUSTOMER}


async def test_opening_the_link_page_changes_nothing(
    staff: httpx.AsyncClient,
    customer: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
) -> None:
    secret_id, key = await create_secret(staff, recipient_email=CUSTOMER)
    bot = new_client()
    for browser in (bot, customer):
        for _ in range(3):
            await browser.get(f"/s/{secret_id}")
            await browser.head(f"/s/{secret_id}")
    row = await Secret.select(Secret.views_left, Secret.state).where(Secret.id == secret_id).first()
    assert row == {"views_left": 1, "state": "waiting"}
    assert (await reveal(customer, secret_id, key)).status_code == 200


async def test_views_run_out_after_the_allowed_number(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    secret_id, key = await create_secret(staff, recipient_email=CUSTOMER, max_views="3")
    statuses = [(await reveal(customer, secret_id, key)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 404]


async def test_content_is_deleted_with_the_last_view(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    secret_id, key = await create_secret(staff, recipient_email=CUSTOMER)
    await reveal(customer, secret_id, key)
    row = await Secret.select().where(Secret.id == secret_id).first()
    assert row is not None
    assert row["ciphertext"] is None
    assert row["nonce"] is None
    assert row["state"] == "opened"
    assert row["opened_by"] == CUSTOMER


async def test_secret_is_not_stored_in_plaintext_and_the_key_nowhere(
    client: httpx.AsyncClient, issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    _secret_id, key = await create_secret(
        client, content="plaintext-marker-42", recipient_email=CUSTOMER
    )
    everything: list[dict[str, Any]] = [
        *await Secret.select(),
        *await AuditEvent.select(),
    ]
    dump = repr(everything)
    assert "plaintext-marker-42" not in dump
    assert b"plaintext-marker-42" not in b"".join(
        r["ciphertext"] for r in everything if r.get("ciphertext")
    )
    assert key not in dump


async def test_expiry_is_enforced_at_read_time_without_the_sweeper(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient, clock: FrozenClock
) -> None:
    secret_id, key = await create_secret(staff, recipient_email=CUSTOMER, expires_in="3600")
    clock.advance(minutes=61)
    page = await customer.get(f"/s/{secret_id}")
    assert page.status_code == 404
    assert (await reveal(customer, secret_id, key)).status_code == 404
    row = await Secret.select(Secret.state).where(Secret.id == secret_id).first()
    assert row == {"state": "waiting"}  # not yet swept, and still unopenable


async def test_creator_revokes_and_the_link_answers_like_any_dead_link(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    secret_id, key = await create_secret(staff, recipient_email=CUSTOMER)
    revoke = await staff.post(
        f"/s/{secret_id}/revoke",
        headers={"x-csrftoken": staff.cookies.get("safe_share_csrf") or ""},
    )
    assert revoke.status_code == 200
    assert "Revoked" in revoke.text
    assert (await reveal(customer, secret_id, key)).text == (
        await reveal(customer, "B" * 22, key)
    ).text


async def test_another_user_cannot_revoke(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    secret_id, key = await create_secret(staff, recipient_email=CUSTOMER)
    await customer.get("/")
    refused = await customer.post(
        f"/s/{secret_id}/revoke",
        headers={"x-csrftoken": customer.cookies.get("safe_share_csrf") or ""},
    )
    assert refused.status_code == 404
    assert (await reveal(customer, secret_id, key)).status_code == 200


async def test_pages_are_never_cached_and_carry_security_headers(
    client: httpx.AsyncClient, issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    page = answered(await client.get("/"), 200)
    assert page.headers["cache-control"] == "no-store"
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in page.text
    assert " style=" not in page.text
