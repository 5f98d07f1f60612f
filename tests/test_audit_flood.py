"""Nobody can write audit rows without limit: an anonymous flood of sign-in callbacks is rate
limited and stores no attacker text; a signed-in non-recipient reloading someone's link leaves
one refusal per hour, not one per reload."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from app.db.tables import AuditEvent
from app.settings import Settings
from tests.support.apps import FrozenClock, client_of, serving
from tests.support.flows import create_secret, invite, signed_in
from tests.support.people import CUSTOMER, OTHER_CUSTOMER, STAFF
from tests.support.services import own_redis


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_anonymous_sign_in_callbacks_cannot_flood_the_audit_trail(
    make_settings: Callable[..., Settings], database_url: str, clock: FrozenClock
) -> None:
    with own_redis() as redis:  # counters shared through Redis, as in production
        settings = make_settings(database_url, redis_url=redis.url, rate_signin_per_client="5")
        await callback_flood(settings, clock)


async def callback_flood(settings: Settings, clock: FrozenClock) -> None:
    attacker_text = '=HYPERLINK("http://evil.example")' + "x" * 500
    async with serving(settings, clock) as app, client_of(app) as anonymous:
        statuses = []
        for n in range(30):
            error = "access_denied" if n == 0 else f"{attacker_text}{n}"
            answer = await anonymous.get("/auth/callback", params={"error": error})
            statuses.append(answer.status_code)
        assert statuses == [400] * 5 + [429] * 25
        rows = await AuditEvent.select(AuditEvent.action, AuditEvent.reason, AuditEvent.target)
        assert len(rows) == 5
        assert {row["action"] for row in rows} == {"signin"}
        # A provider's standard error code is kept; anything else is not stored as typed.
        assert sorted(row["reason"] for row in rows) == ["access_denied"] + ["other"] * 4
        assert all(row["target"] == "" for row in rows)
        clock.advance(seconds=60)  # a new window: sign-in is possible again
        assert (await anonymous.get("/auth/callback", params={"error": "x"})).status_code == 400


async def test_reloading_someone_elses_link_leaves_one_refusal_per_hour(
    new_client: Callable[[], httpx.AsyncClient], issuer: str, clock: FrozenClock
) -> None:
    alice = await signed_in(new_client, issuer, STAFF)
    eve = await signed_in(new_client, issuer, OTHER_CUSTOMER)
    secret_id, _key = await create_secret(alice, recipient_email=CUSTOMER, expires_in="604800")
    for _ in range(5):
        page = await eve.get(f"/s/{secret_id}")
        assert page.status_code == 403
        clock.advance(minutes=5)

    async def refusals() -> int:
        return int(
            await AuditEvent.count().where(
                (AuditEvent.action == "secret.refused") & (AuditEvent.secret_id == secret_id)
            )
        )

    assert await refusals() == 1
    clock.advance(hours=1)
    assert (await eve.get(f"/s/{secret_id}")).status_code == 403
    assert await refusals() == 2
    # Another person's refusal is their own row.
    carol = await signed_in(new_client, issuer, "carol@example.org")
    assert (await carol.get(f"/s/{secret_id}")).status_code == 403
    assert await refusals() == 3


async def test_reloading_a_guest_page_leaves_one_opening_per_client_and_hour(
    new_client: Callable[[], httpx.AsyncClient], issuer: str, clock: FrozenClock
) -> None:
    alice = await signed_in(new_client, issuer, STAFF)
    token = await invite(alice)
    guest = new_client()
    for _ in range(5):
        assert (await guest.get(f"/i/{token}")).status_code == 200
        clock.advance(minutes=5)

    async def openings() -> int:
        return int(await AuditEvent.count().where(AuditEvent.action == "invitation.opened"))

    assert await openings() == 1
    clock.advance(hours=1)
    assert (await guest.get(f"/i/{token}")).status_code == 200
    assert await openings() == 2
