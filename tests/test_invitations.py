"""Guest invitations over HTTP (SQLite and PostgreSQL) and single use under a real race."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from piccolo.engine.base import Engine

from app import crypto
from app.db.tables import AuditEvent, Invitation, Secret
from app.services import invitations
from app.services.audit import ClientInfo
from app.services.sweeper import sweep
from app.settings import Settings
from tests.support.apps import FrozenClock
from tests.support.flows import (
    INVITATION_LINK,
    answered,
    csrf_headers,
    guest_send,
    invite,
    prime_csrf,
    received_secret_id,
    reveal_received,
    sign_in,
)
from tests.support.people import CUSTOMER, OTHER_STAFF, STAFF, STAFF_USER

USED_UP = "This invitation has been used or has expired."


@pytest.mark.parametrize("htmx", [True, False])
async def test_guest_sends_one_secret_that_only_the_inviter_reveals_in_place(
    client: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
    htmx: bool,
) -> None:
    await sign_in(client, issuer, STAFF)
    token = await invite(client, label="Jan at ACME", htmx=htmx)

    guest = new_client()  # no account, no session
    page = await guest.get(f"/i/{token}")
    assert page.status_code == 200
    assert STAFF in page.text  # the guest sees who invited them
    assert "Jan at ACME" not in page.text  # the label is for staff only
    assert 'id="language-choice"' in page.text

    sent = await guest_send(guest, token, "guest-pa$$word\nline two", htmx=htmx)
    assert sent.status_code == 200
    assert "Your secret was sent" in sent.text
    assert ("<html" in sent.text) is not htmx

    overview = answered(await client.get("/invitations"), 200)
    assert "Jan at ACME" in overview.text
    secret_id = await received_secret_id(client)
    assert "guest-pa$$word" not in overview.text

    revealed = await reveal_received(client, secret_id, htmx=htmx)
    assert revealed.status_code == 200
    assert "guest-pa$$word\nline two" in revealed.text
    assert ("<html" in revealed.text) is not htmx

    row = await Secret.select().where(Secret.id == secret_id).first()
    assert row is not None
    assert row["state"] == "opened"
    assert row["ciphertext"] is None
    assert row["wrapped_key"] is None
    assert row["opened_by"] == STAFF
    assert (await reveal_received(client, secret_id)).status_code == 404

    again = await guest.get(f"/i/{token}")
    assert again.status_code == 404
    assert USED_UP in again.text


async def test_guest_secret_row_is_addressed_to_the_inviter_and_marked_as_a_guests(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    token = await invite(client)
    assert (await guest_send(new_client(), token)).status_code == 200
    invitation = await Invitation.select().first()
    secret = await Secret.select().first()
    assert invitation is not None
    assert secret is not None
    assert invitation["state"] == "used"
    assert invitation["secret_id"] == secret["id"]
    assert secret["invitation_id"] == invitation["id"]
    assert secret["recipient_email"] == STAFF
    assert secret["recipient_group"] is None
    assert (secret["creator_email"], secret["creator_role"]) == ("guest", "guest")
    assert secret["wrapped_key"] is not None
    assert secret["expires_at"] - secret["created_at"] == invitations.GUEST_SECRET_LIFETIME


async def test_used_expired_revoked_and_unknown_invitations_look_the_same(
    client: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    await sign_in(client, issuer, STAFF)
    swept = await invite(client, expires_in="3600")
    clock.advance(minutes=30)
    expiring = await invite(client, expires_in="3600")
    used = await invite(client, expires_in="604800")
    revoked = await invite(client, expires_in="604800")
    assert (await guest_send(new_client(), used)).status_code == 200
    revoked_id = (
        await Invitation.select(Invitation.id)
        .where(Invitation.token_hash == crypto.hash_token(revoked))
        .first()
    )
    assert revoked_id is not None
    revoke = await client.post(
        f"/invitations/{revoked_id['id']}/revoke", headers=csrf_headers(client)
    )
    assert revoke.status_code == 200
    clock.advance(minutes=31)
    await sweep(clock(), timedelta(days=settings.audit_retention_days))
    clock.advance(minutes=30)  # `expiring` has now passed its time, but was not swept
    states = {
        row["token_hash"]: row["state"]
        for row in await Invitation.select(Invitation.token_hash, Invitation.state)
    }
    assert states[crypto.hash_token(swept)] == "expired"
    assert states[crypto.hash_token(expiring)] == "open"

    guest = new_client()
    await prime_csrf(guest)
    tokens = [expiring, swept, used, revoked, crypto.new_id(), "x", "A" * 200]
    pages = [await guest.get(f"/i/{token}") for token in tokens]
    submits = [await guest_send(guest, token) for token in tokens]
    for response in pages + submits:
        assert response.status_code == 404
        assert USED_UP in response.text
    # Only the language picker's return path differs: it is the address the visitor typed.
    assert len({p.text.replace(f"/i/{t}", "/i/T") for p, t in zip(pages, tokens, strict=True)}) == 1
    assert len({submit.text for submit in submits}) == 1
    assert await Secret.count() == 1


async def test_an_unswept_expired_invitation_is_refused_at_read_time(
    client: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
    clock: FrozenClock,
) -> None:
    await sign_in(client, issuer, STAFF)
    token = await invite(client, expires_in="3600")
    guest = new_client()
    assert (await guest.get(f"/i/{token}")).status_code == 200
    clock.advance(minutes=60)
    assert (await guest.get(f"/i/{token}")).status_code == 404
    assert (await guest_send(guest, token)).status_code == 404
    assert await Secret.count() == 0
    assert await Invitation.select(Invitation.state).first() == {"state": "open"}


async def test_second_submit_and_reload_resubmit_store_nothing_more(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    token = await invite(client)
    guest = new_client()
    assert (await guest_send(guest, token, "first")).status_code == 200
    resubmit = await guest_send(guest, token, "first")  # the browser's "resend form data"
    other = await guest_send(new_client(), token, "second", htmx=True)
    assert resubmit.status_code == other.status_code == 404
    assert USED_UP in resubmit.text
    assert await Secret.count() == 1
    assert await AuditEvent.count().where(AuditEvent.action == "invitation.used") == 1


async def test_twenty_concurrent_submissions_over_http_store_exactly_one_secret(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    token = await invite(client)
    guests = [new_client() for _ in range(20)]
    for guest in guests:
        await prime_csrf(guest)
    responses = await asyncio.gather(
        *(guest_send(guest, token, f"attempt {n}") for n, guest in enumerate(guests))
    )
    assert sorted(r.status_code for r in responses) == [200] + [404] * 19
    assert await Secret.count() == 1


MASTER_KEYS = (b"m" * 32,)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.postgres
async def test_twenty_concurrent_guest_submissions_on_postgresql_store_exactly_one_secret(
    pg_engine: Engine[Any],
) -> None:
    created = await invitations.create_invitation(
        creator=STAFF_USER, label="", expires_in=timedelta(hours=1), now=NOW, client=ClientInfo()
    )

    async def attempt(n: int) -> bool:
        try:
            await invitations.submit_guest_secret(
                token=created.token,
                content=f"attempt {n}",
                now=NOW,
                master_keys=MASTER_KEYS,
                client=ClientInfo(),
            )
        except invitations.InvitationUnavailable:
            return False
        return True

    results = await asyncio.gather(*(attempt(n) for n in range(20)))
    assert sum(results) == 1
    assert await Secret.count() == 1
    assert await AuditEvent.count().where(AuditEvent.action == "invitation.used") == 1
    secret = await Secret.select(Secret.id).first()
    invitation = await Invitation.select(Invitation.state, Invitation.secret_id).first()
    assert secret is not None
    assert invitation == {"state": "used", "secret_id": secret["id"]}


async def test_another_staff_member_and_a_customer_cannot_reveal_and_spend_nothing(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    token = await invite(client)
    assert (await guest_send(new_client(), token)).status_code == 200
    secret_id = await received_secret_id(client)

    colleague = new_client()
    await sign_in(colleague, issuer, OTHER_STAFF)
    customer = new_client()
    await sign_in(customer, issuer, CUSTOMER)
    for intruder in (colleague, customer):
        for htmx in (False, True):
            refused = await reveal_received(intruder, secret_id, htmx=htmx)
            assert refused.status_code == 403
            assert "guest-pa$$word" not in refused.text
        overview = await intruder.get("/invitations")
        assert overview.status_code == (200 if intruder is colleague else 403)
        assert secret_id not in overview.text
    signed_out = await reveal_received(new_client(), secret_id)
    assert signed_out.status_code == 401
    assert "Sign in" in signed_out.text

    row = await Secret.select(Secret.state, Secret.views_left).where(Secret.id == secret_id).first()
    assert row == {"state": "waiting", "views_left": 1}
    refusals = await AuditEvent.select(AuditEvent.actor).where(
        (AuditEvent.action == "secret.refused") & (AuditEvent.secret_id == secret_id)
    )
    assert sorted(r["actor"] for r in refusals) == sorted([OTHER_STAFF, CUSTOMER] * 2)
    assert (await reveal_received(client, secret_id)).status_code == 200


async def test_a_guest_secret_cannot_be_revealed_through_the_ordinary_secret_route(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    token = await invite(client)
    await guest_send(new_client(), token)
    secret_id = await received_secret_id(client)
    await prime_csrf(client)
    wrong = await client.post(
        f"/s/{secret_id}/reveal",
        data={"key": crypto.encode_key(crypto.new_key())},
        headers=csrf_headers(client),
    )
    assert wrong.status_code == 404  # as for an id that does not exist: nothing to tell
    row = await Secret.select(Secret.state).where(Secret.id == secret_id).first()
    assert row == {"state": "waiting"}


async def test_customers_and_signed_out_visitors_cannot_invite(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    signed_out = new_client()
    await prime_csrf(signed_out)
    assert (await signed_out.get("/invitations")).status_code == 401
    response = await signed_out.post(
        "/invitations", data={"expires_in": "3600"}, headers=csrf_headers(signed_out)
    )
    assert response.status_code == 401

    await sign_in(client, issuer, CUSTOMER)
    home = answered(await client.get("/"), 200)
    assert 'href="/invitations"' not in home.text
    assert (await client.get("/invitations")).status_code == 403
    await prime_csrf(client)
    for htmx in (False, True):
        response = await client.post(
            "/invitations",
            data={"label": "x", "expires_in": "3600"},
            headers=csrf_headers(client, htmx),
        )
        assert response.status_code == 403
        assert INVITATION_LINK.search(response.text) is None
    assert await Invitation.count() == 0
    refused = await AuditEvent.select(AuditEvent.actor, AuditEvent.outcome).where(
        AuditEvent.action == "invitation.create_refused"
    )
    assert refused == [{"actor": CUSTOMER, "outcome": "refused"}] * 2


async def test_staff_home_page_links_to_invitations(client: httpx.AsyncClient, issuer: str) -> None:
    await sign_in(client, issuer, STAFF)
    home = await client.get("/")
    assert 'href="/invitations"' in home.text
    assert "Invite a guest" in home.text


async def test_token_is_stored_only_as_its_hash_and_content_is_encrypted(
    client: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
    settings: Settings,
) -> None:
    await sign_in(client, issuer, STAFF)
    token = await invite(client)
    assert len(token) >= 22  # at least 128 random bits
    await guest_send(new_client(), token, "plaintext-marker-77")
    invitation_rows = await Invitation.select()
    secret_rows = await Secret.select()
    dump = repr([*invitation_rows, *secret_rows, *await AuditEvent.select()])
    assert token not in dump
    assert invitation_rows[0]["token_hash"] == crypto.hash_token(token)
    assert "plaintext-marker-77" not in dump
    secret = secret_rows[0]
    stored = secret["ciphertext"] + secret["wrapped_key"] + secret["nonce"]
    assert b"plaintext-marker-77" not in stored
    # The database alone opens nothing: the wrapped key needs the master key.
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_key(
            secret["wrapped_key"], (b"another-master-key" * 2,), secret["id"].encode()
        )
    key = crypto.unwrap_key(secret["wrapped_key"], settings.secret_keys, secret["id"].encode())
    sealed = crypto.Sealed(secret["nonce"], secret["ciphertext"])
    assert secret["format_version"] == crypto.FORMAT_V2
    content_key = crypto.derive_keys(key).content_key
    assert crypto.open_text(sealed, content_key) == b"plaintext-marker-77"


async def test_every_step_is_audited_and_no_audit_row_holds_a_token_label_or_content(
    client: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    await sign_in(client, issuer, STAFF)
    used = await invite(client, label="label-marker-1")
    revoked = await invite(client, label="label-marker-2")
    expiring = await invite(client, label="label-marker-3", expires_in="3600")
    guest = new_client()
    await guest.get(f"/i/{used}")
    await guest_send(guest, used, "content-marker-9")
    revoke_id = (
        await Invitation.select(Invitation.id)
        .where(Invitation.token_hash == crypto.hash_token(revoked))
        .first()
    )
    assert revoke_id is not None
    await client.post(f"/invitations/{revoke_id['id']}/revoke", headers=csrf_headers(client))
    await reveal_received(client, await received_secret_id(client))
    clock.advance(hours=2)
    await sweep(clock(), timedelta(days=settings.audit_retention_days))

    rows = await AuditEvent.select().order_by(AuditEvent.id)
    actions = [row["action"] for row in rows if row["invitation_id"]]
    assert actions.count("invitation.created") == 3
    for action in (
        "invitation.opened",
        "invitation.used",
        "invitation.revoked",
        "invitation.expired",
        "secret.revealed",
    ):
        assert actions.count(action) == 1, action
    by_action = {row["action"]: row for row in rows}
    for action in ("invitation.opened", "invitation.used"):
        assert (by_action[action]["actor"], by_action[action]["actor_kind"]) == ("guest", "guest")
    assert by_action["invitation.used"]["secret_id"] is not None
    assert by_action["secret.revealed"]["actor"] == STAFF
    dump = repr(rows)
    for secret_text in (used, revoked, expiring, "content-marker-9", "label-marker"):
        assert secret_text not in dump


async def test_opening_the_guest_page_changes_nothing(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    token = await invite(client)
    bot = new_client()
    for _ in range(3):
        assert (await bot.get(f"/i/{token}")).status_code == 200
    assert await Invitation.select(Invitation.state, Invitation.used_at).first() == {
        "state": "open",
        "used_at": None,
    }
    # Reloads by one client are one opening (per hour): the trail cannot be filled by reloading.
    assert await AuditEvent.count().where(AuditEvent.action == "invitation.opened") == 1
    assert (await guest_send(bot, token)).status_code == 200


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "Type the secret"),
        ("  \n\t ", "Type the secret"),
        ("y" * 10_001, "too long"),
    ],
)
async def test_bad_guest_input_reshows_the_form_with_what_was_typed(
    client: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
    content: str,
    message: str,
) -> None:
    await sign_in(client, issuer, STAFF)
    token = await invite(client)
    guest = new_client()
    for htmx in (False, True):
        response = await guest_send(guest, token, content, htmx=htmx)
        assert response.status_code == 400
        assert message in response.text
        assert 'aria-describedby="content-error"' in response.text
        assert f">{content}</textarea>" in response.text
        assert ("<html" in response.text) is not htmx
    assert await Secret.count() == 0
    assert await Invitation.select(Invitation.state).first() == {"state": "open"}
    assert (await guest_send(guest, token, "y" * 10_000)).status_code == 200


async def test_a_missing_content_field_is_a_clear_400(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    token = await invite(client)
    guest = new_client()
    await prime_csrf(guest)
    response = await guest.post(f"/i/{token}", data={}, headers=csrf_headers(guest))
    assert response.status_code == 400
    assert "Type the secret" in response.text


async def test_a_guest_post_without_csrf_token_is_refused_and_uses_nothing(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    token = await invite(client)
    response = await new_client().post(f"/i/{token}", data={"content": "x"})
    assert response.status_code == 403
    assert await Invitation.select(Invitation.state).first() == {"state": "open"}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"expires_in": "60"}, "expires_in", "1 hour, 1 day or 7 days"),
        ({"label": "z" * 201}, "label", "too long"),
    ],
)
async def test_bad_invitation_form_reshows_what_was_typed(
    client: httpx.AsyncClient, issuer: str, change: dict[str, str], field: str, message: str
) -> None:
    await sign_in(client, issuer, STAFF)
    await prime_csrf(client)
    data = {"label": "Keep <this> label", "expires_in": "3600", **change}
    for htmx in (False, True):
        response = await client.post("/invitations", data=data, headers=csrf_headers(client, htmx))
        assert response.status_code == 400
        assert message in response.text
        assert f'aria-describedby="{field}-error"' in response.text
        assert ("<html" in response.text) is not htmx
    if "label" not in change:
        assert "Keep &lt;this&gt; label" in response.text
    assert await Invitation.count() == 0


async def test_staff_revoke_only_their_own_unused_invitations(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    token = await invite(client, label="to-revoke")
    used = await invite(client, label="answered")
    await guest_send(new_client(), used)
    ids = {
        row["state"]: row["id"] for row in await Invitation.select(Invitation.id, Invitation.state)
    }
    colleague = new_client()
    await sign_in(colleague, issuer, OTHER_STAFF)
    await prime_csrf(colleague)
    stolen = await colleague.post(
        f"/invitations/{ids['open']}/revoke", headers=csrf_headers(colleague)
    )
    assert stolen.status_code == 404
    assert (await new_client().get(f"/i/{token}")).status_code == 200

    customer = new_client()
    await sign_in(customer, issuer, CUSTOMER)
    await prime_csrf(customer)
    refused = await customer.post(
        f"/invitations/{ids['open']}/revoke", headers=csrf_headers(customer)
    )
    assert refused.status_code == 403
    assert (await new_client().get(f"/i/{token}")).status_code == 200

    late = await client.post(f"/invitations/{ids['used']}/revoke", headers=csrf_headers(client))
    assert late.status_code == 404

    revoked = await client.post(
        f"/invitations/{ids['open']}/revoke", headers=csrf_headers(client, htmx=True)
    )
    assert revoked.status_code == 200
    assert "<html" not in revoked.text
    assert 'id="open-invitations"' in revoked.text
    assert "to-revoke" not in revoked.text
    assert (await new_client().get(f"/i/{token}")).status_code == 404
    again = await client.post(f"/invitations/{ids['open']}/revoke", headers=csrf_headers(client))
    assert again.status_code == 404


async def test_guest_secret_expires_seven_days_after_it_was_sent(
    client: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
    clock: FrozenClock,
) -> None:
    await sign_in(client, issuer, STAFF)
    token = await invite(client, expires_in="3600")
    await guest_send(new_client(), token)
    secret_id = await received_secret_id(client)
    clock.advance(days=7)
    await sign_in(client, issuer, STAFF)  # the session itself ended after 12 hours
    assert (await reveal_received(client, secret_id)).status_code == 404
    overview = await client.get("/invitations")
    assert "Expired unopened" in overview.text


async def test_no_log_record_contains_the_token_or_the_content(
    client: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await sign_in(client, issuer, STAFF)
    token = await invite(client)
    guest = new_client()
    await guest.get(f"/i/{token}")
    await guest_send(guest, token, "", htmx=True)
    await guest_send(guest, token, "log-marker-5")
    await guest_send(guest, token, "log-marker-5")
    await reveal_received(client, await received_secret_id(client))
    # httpx is the test's own browser, which logs its request lines; the app must log nothing.
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "httpx")
    assert token not in logged
    assert "log-marker-5" not in logged


async def test_htmx_create_refreshes_the_open_list_and_the_full_page_shows_the_link(
    client: httpx.AsyncClient, issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    await prime_csrf(client)
    for htmx, label in ((True, "first-label"), (False, "second-label")):
        response = await client.post(
            "/invitations",
            data={"label": label, "expires_in": "3600"},
            headers=csrf_headers(client, htmx),
        )
        assert response.status_code == 200
        assert INVITATION_LINK.search(response.text)
        assert ("<html" in response.text) is not htmx
        assert ('hx-swap-oob="true"' in response.text) is htmx
    overview = await client.get("/invitations")
    assert "first-label" in overview.text
    assert "second-label" in overview.text
    assert INVITATION_LINK.search(overview.text) is None  # the link is shown only once
