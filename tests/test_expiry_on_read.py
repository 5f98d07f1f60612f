"""Expiry is checked on every read, not only by the sweeper: an expired secret that has not
been swept yet is expired on its creator's pages too, and can no longer be revoked."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from app.db.tables import AuditEvent, Invitation, Secret
from tests.support.apps import FrozenClock
from tests.support.flows import create_secret, csrf_headers, invite, revoke, signed_in
from tests.support.people import CUSTOMER, STAFF


async def test_an_expired_unswept_secret_is_expired_to_its_creator_and_cannot_be_revoked(
    new_client: Callable[[], httpx.AsyncClient], issuer: str, clock: FrozenClock
) -> None:
    alice = await signed_in(new_client, issuer, STAFF)
    secret_id, _key = await create_secret(alice, recipient_email=CUSTOMER, expires_in="3600")
    clock.advance(hours=2)  # expired; no sweep has run

    for path in (f"/s/{secret_id}", "/dashboard", f"/dashboard/secrets/{secret_id}/trail"):
        page = await alice.get(path)
        assert page.status_code == 200, path
        assert "Expired" in page.text, path
        assert "Waiting" not in page.text, path
        assert "Revoke" not in page.text, path

    for htmx in (False, True):
        refused = await revoke(alice, secret_id, htmx=htmx, view=None)
        assert refused.status_code == 404
        from_dashboard = await revoke(alice, secret_id, htmx=True)
        assert from_dashboard.status_code == 200
        assert "Expired" in from_dashboard.text
        assert "Revoked" not in from_dashboard.text
    rows = await Secret.select(Secret.state).where(Secret.id == secret_id)
    assert rows == [{"state": "waiting"}]  # left for the sweeper, which marks it expired
    assert await AuditEvent.count().where(AuditEvent.action == "secret.revoked") == 0


async def test_an_expired_unswept_invitation_cannot_be_revoked(
    new_client: Callable[[], httpx.AsyncClient], issuer: str, clock: FrozenClock
) -> None:
    alice = await signed_in(new_client, issuer, STAFF)
    await invite(alice, label="short", expires_in="3600")
    [row] = await Invitation.select(Invitation.id)
    clock.advance(hours=2)
    late = await alice.post(f"/invitations/{row['id']}/revoke", headers=csrf_headers(alice))
    assert late.status_code == 404
    assert await Invitation.select(Invitation.state) == [{"state": "open"}]
    assert await AuditEvent.count().where(AuditEvent.action == "invitation.revoked") == 0
