"""Who someone is can never collide with Safe Share's own actors (issue 14, findings 4 and 12).

A provider account whose verified "email" is the bare word `guest` or `system` used to pass for
the guest marker (listing, opening the trails of and revoking guest submissions) or for Safe
Share itself in the audit trail. An email claim that is not an address is now no email, and
the audit trail keeps the actor's kind in a column of its own.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from app.auth.identity import valid_email
from app.db.tables import AuditEvent, Secret
from app.lifecycle import SecretState
from tests.support import csrf_headers, prime_csrf, sign_in
from tests.test_invitations import guest_send, invite, received_secret_id

STAFF = "alice@prowise.com"
AUDITOR = "audrey@prowise.com"


@pytest.mark.parametrize("word", ["guest", "system"])
async def test_an_account_named_like_an_internal_actor_gets_nothing_of_theirs(
    client: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
    word: str,
) -> None:
    await sign_in(client, issuer, STAFF)
    guest = new_client()
    assert (await guest_send(guest, await invite(client))).status_code == 200
    guest_secret = await received_secret_id(client)

    # Verified by the provider, in the staff group: everything today's code needed.
    impostor = new_client()
    await sign_in(impostor, issuer, word, groups=["staff", "auditors"])
    dashboard = await impostor.get("/dashboard")
    assert guest_secret not in dashboard.text
    trail = await impostor.get(f"/dashboard/secrets/{guest_secret}/trail")
    assert trail.status_code == 404
    await prime_csrf(impostor)
    revoked = await impostor.post(
        f"/s/{guest_secret}/revoke", data={}, headers=csrf_headers(impostor)
    )
    assert revoked.status_code == 404
    row = await Secret.select(Secret.state).where(Secret.id == guest_secret).first()
    assert row == {"state": SecretState.WAITING.value}
    # Not an address, so no email: not staff, and told so instead of being offered a form.
    home = await impostor.get("/")
    assert home.status_code == 200
    assert "Your email address is not verified" in home.text
    assert 'name="recipient_email"' not in home.text


async def test_an_account_called_system_never_shows_as_safe_share_itself(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    impostor = new_client()
    await sign_in(impostor, issuer, "system", extra={"name": "system"})
    await sign_in(client, issuer, AUDITOR, groups=["auditors"])
    audit = await client.get("/audit", params={"action": "signin"})
    assert audit.status_code == 200
    assert "Safe Share (automatic)" not in audit.text
    assert "system" in audit.text
    rows = await AuditEvent.select(AuditEvent.actor, AuditEvent.actor_kind).where(
        (AuditEvent.action == "signin") & (AuditEvent.actor != AUDITOR)
    )
    assert rows == [{"actor": "system", "actor_kind": "user"}]


@pytest.mark.parametrize(
    "claim",
    ["guest", "system", "anonymous", "alice@", "@prowise.com", "a@b", "a b@c.d", "a@@b.c", 42],
)
def test_an_email_claim_that_is_not_an_address_is_no_email(claim: object) -> None:
    assert valid_email(claim) is None


def test_real_addresses_are_emails() -> None:
    assert valid_email(" Alice.O'Neil+x@Prowise.com ") == "alice.o'neil+x@prowise.com"


async def test_an_unverified_account_is_told_so_and_offered_nothing(
    client: httpx.AsyncClient, issuer: str
) -> None:
    await sign_in(client, issuer, "mallory@prowise.com", verified=False)
    for path in ("/", "/dashboard"):
        page = await client.get(path)
        assert page.status_code == 200
        assert "customer" not in page.text
        assert "email not verified" in page.text
        assert 'action="/secrets"' not in page.text
        assert 'href="/dashboard"' not in page.text


async def test_the_unverified_notice_speaks_the_visitors_language(
    client: httpx.AsyncClient, issuer: str
) -> None:
    await sign_in(client, issuer, "mallory@prowise.com", verified=False)
    home = await client.get("/", headers={"accept-language": "de"})
    assert home.status_code == 200
    assert "Ihre E-Mail-Adresse ist nicht bestätigt" in home.text
    assert "E-Mail nicht bestätigt" in home.text
