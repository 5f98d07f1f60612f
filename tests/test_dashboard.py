"""'My secrets': exactly my own, in place revoke (htmx and plain), keyset pages, one query."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx

from app.db.tables import AuditEvent, Secret
from tests.support import FrozenClock, create_secret, csrf_headers, prime_csrf, reveal, sign_in

ALICE = "alice@prowise.com"
CAROL = "carol@prowise.com"
BOB = "bob@example.com"
ROW_ID = re.compile(r'<li id="secret-([A-Za-z0-9_-]+)"')


async def signed_in(
    new_client: Callable[[], httpx.AsyncClient], issuer: str, email: str, **kw: Any
) -> httpx.AsyncClient:
    browser = new_client()
    await sign_in(browser, issuer, email, **kw)
    return browser


def main_of(page: str) -> str:
    """A page's own content, without the per-person header (CSRF token, who is signed in)."""
    return page[page.index('<main id="main"') : page.index("</main>")]


async def revoke(
    browser: httpx.AsyncClient, secret_id: str, *, htmx: bool, view: str | None = "dashboard"
) -> httpx.Response:
    await prime_csrf(browser)
    data = {"view": view} if view else {}
    return await browser.post(
        f"/s/{secret_id}/revoke", data=data, headers=csrf_headers(browser, htmx)
    )


def bulk_secrets(
    creator: str, n: int, start: datetime, *, prefix: str, same_time_every: int = 1
) -> list[Secret]:
    """Tombstone-like rows made directly, so thousands cost one insert.

    Rows share a created_at in groups of `same_time_every`, so the id tie-break is exercised.
    """
    return [
        Secret(
            id=f"{prefix}{i:06d}",
            state="waiting",
            nonce=b"n",
            ciphertext=b"c",
            creator_email=creator,
            creator_role="staff",
            recipient_email=BOB,
            max_views=1,
            views_left=1,
            created_at=start + timedelta(seconds=i // same_time_every),
            expires_at=start + timedelta(days=7),
        )
        for i in range(n)
    ]


@contextmanager
def counting_queries() -> Iterator[list[str]]:
    """Counts every query the tables' engine runs (the real engine, only observed).

    The engine class is wrapped (its instances have slots); only the app's engine runs here.
    """
    engine_class = type(Secret._meta.db)
    original = engine_class.run_querystring
    seen: list[str] = []

    async def counted(self: Any, querystring: Any, in_pool: bool = True) -> Any:
        seen.append(str(querystring))
        return await original(self, querystring, in_pool=in_pool)

    engine_class.run_querystring = counted  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        engine_class.run_querystring = original  # type: ignore[method-assign]


async def test_dashboard_shows_exactly_the_callers_secrets(
    new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    alice = await signed_in(new_client, issuer, ALICE)
    carol = await signed_in(new_client, issuer, CAROL)
    bob = await signed_in(new_client, issuer, BOB)
    alices = {(await create_secret(alice, recipient_email=BOB))[0] for _ in range(2)}
    carols, _key = await create_secret(carol, recipient_email=BOB)
    bobs, _key = await create_secret(bob, recipient_group="service")

    page = await alice.get("/dashboard")
    assert page.status_code == 200
    assert set(ROW_ID.findall(page.text)) == alices
    assert set(ROW_ID.findall((await carol.get("/dashboard")).text)) == {carols}
    assert set(ROW_ID.findall((await bob.get("/dashboard")).text)) == {bobs}


async def test_dashboard_needs_sign_in(client: httpx.AsyncClient) -> None:
    page = await client.get("/dashboard")
    assert page.status_code == 401
    assert "/auth/login?next=/dashboard" in page.text


async def test_dashboard_shows_state_recipient_times_and_who_opened(
    new_client: Callable[[], httpx.AsyncClient], issuer: str, clock: FrozenClock
) -> None:
    alice = await signed_in(new_client, issuer, ALICE)
    bob = await signed_in(new_client, issuer, BOB)
    opened, key = await create_secret(alice, recipient_email=BOB)
    waiting, _k = await create_secret(alice, recipient_email=BOB, max_views="3")
    short, _k = await create_secret(alice, recipient_email=BOB, expires_in="3600")
    revoked, _k = await create_secret(alice, recipient_email=BOB)
    assert (await reveal(bob, opened, key)).status_code == 200
    assert (await revoke(alice, revoked, htmx=True)).status_code == 200
    clock.advance(hours=2)  # `short` expired; the sweeper has not run: it still shows expired

    page = (await alice.get("/dashboard")).text
    rows = dict(zip(ROW_ID.findall(page), re.split(r'<li id="secret-', page)[1:], strict=True))
    assert "Opened" in rows[opened]
    assert f"by {BOB}" in rows[opened]
    assert "Waiting" in rows[waiting]
    assert "3 views left" in rows[waiting]
    assert "Revoke</button>" in rows[waiting]
    assert "Expired" in rows[short]
    assert "Revoke</button>" not in rows[short]
    assert "Revoked" in rows[revoked]
    # Relative time in the text, the exact time in the title.
    assert re.search(
        r'<time datetime="2026-01-05T09:00:00\+00:00" title="[^"]+">2 hours ago</time>',
        rows[waiting],
    )
    assert "in 22 hours" in rows[waiting]


async def test_revoke_from_the_dashboard_swaps_the_row_for_htmx(
    new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    alice = await signed_in(new_client, issuer, ALICE)
    bob = await signed_in(new_client, issuer, BOB)
    secret_id, key = await create_secret(alice, recipient_email=BOB)

    answer = await revoke(alice, secret_id, htmx=True)
    assert answer.status_code == 200
    assert "<html" not in answer.text
    assert answer.text.lstrip().startswith(f'<li id="secret-{secret_id}"')
    assert "Revoked" in answer.text
    assert "Revoke</button>" not in answer.text
    assert "data-focus-on-swap" in answer.text  # focus follows the change
    assert "data-focus-on-swap" not in (await alice.get("/dashboard")).text

    # A revoked link answers like any unavailable one.
    revealed = await reveal(bob, secret_id, key)
    unknown = await reveal(bob, "A" * 22, key)
    assert revealed.status_code == unknown.status_code == 404
    assert revealed.text == unknown.text


async def test_revoke_from_the_dashboard_without_javascript_returns_to_the_list(
    new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    alice = await signed_in(new_client, issuer, ALICE)
    secret_id, _key = await create_secret(alice, recipient_email=BOB)
    answer = await revoke(alice, secret_id, htmx=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/dashboard#secret-{secret_id}"
    page = await alice.get("/dashboard")
    assert "<html" in page.text
    assert "Revoked" in page.text
    row = await Secret.select(Secret.state, Secret.ciphertext).where(Secret.id == secret_id).first()
    assert row == {"state": "revoked", "ciphertext": None}


async def test_revoke_from_the_status_page_keeps_its_own_answer(
    new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    alice = await signed_in(new_client, issuer, ALICE)
    secret_id, _key = await create_secret(alice, recipient_email=BOB)
    answer = await revoke(alice, secret_id, htmx=True, view=None)
    assert answer.status_code == 200
    assert 'id="secret-state"' in answer.text


async def test_another_persons_revoke_is_refused_and_changes_nothing(
    new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    alice = await signed_in(new_client, issuer, ALICE)
    carol = await signed_in(new_client, issuer, CAROL)
    bob = await signed_in(new_client, issuer, BOB)
    secret_id, key = await create_secret(alice, recipient_email=BOB)
    before = await Secret.select().where(Secret.id == secret_id).first()
    unknown = await revoke(carol, "A" * 22, htmx=True)

    for attacker in (carol, bob):
        for htmx in (True, False):
            for view in ("dashboard", None):
                answer = await revoke(attacker, secret_id, htmx=htmx, view=view)
                assert answer.status_code == 404
                if htmx:
                    assert answer.text == unknown.text

    assert await Secret.select().where(Secret.id == secret_id).first() == before
    assert await AuditEvent.count().where(AuditEvent.action == "secret.revoked") == 0
    assert (await reveal(bob, secret_id, key)).status_code == 200


async def test_pages_follow_each_other_without_duplicates_or_gaps(
    new_client: Callable[[], httpx.AsyncClient], issuer: str, clock: FrozenClock
) -> None:
    alice = await signed_in(new_client, issuer, ALICE)
    start = clock.now - timedelta(days=1)
    mine = bulk_secrets(ALICE, 60, start, prefix="mine", same_time_every=4)
    await Secret.insert(*mine, *bulk_secrets(CAROL, 30, start, prefix="hers"))
    expected = [s.id for s in sorted(mine, key=lambda s: (s.created_at, s.id), reverse=True)]

    seen: list[str] = []
    url: str | None = "/dashboard"
    pages = 0
    while url:
        page = await alice.get(url)
        assert page.status_code == 200
        ids = ROW_ID.findall(page.text)
        assert ids, url
        seen += ids
        pages += 1
        more = re.search(r'href="(/dashboard\?after=[^"]+)" rel="next"', page.text)
        url = more.group(1).replace("&amp;", "&") if more else None
    assert pages == 3  # 25 + 25 + 10
    assert seen == expected


async def test_a_forged_page_link_is_a_clear_400(
    new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    alice = await signed_in(new_client, issuer, ALICE)
    for after in ("nonsense", "12.<script>", "-5.abc", "9" * 40 + ".x", "9" * 18 + ".x"):
        page = await alice.get("/dashboard", params={"after": after})
        assert page.status_code == 400
        assert "This page link is not valid" in page.text


async def test_a_page_of_5000_secrets_is_one_query(
    new_client: Callable[[], httpx.AsyncClient], issuer: str, clock: FrozenClock
) -> None:
    alice = await signed_in(new_client, issuer, ALICE)
    start = clock.now - timedelta(days=3)
    rows = bulk_secrets(ALICE, 5000, start, prefix="many", same_time_every=3)
    for chunk in range(0, len(rows), 1000):
        await Secret.insert(*rows[chunk : chunk + 1000])
    await Secret.insert(*bulk_secrets(CAROL, 500, start, prefix="other"))

    with counting_queries() as queries:
        began = time.perf_counter()
        first = await alice.get("/dashboard")
        elapsed = time.perf_counter() - began
    assert first.status_code == 200
    assert len(queries) == 1, queries
    assert len(ROW_ID.findall(first.text)) == 25
    print(f"dashboard page over 5,000 rows: {elapsed * 1000:.1f} ms, 1 query")

    older = re.search(r'href="(/dashboard\?after=[^"]+)" rel="next"', first.text)
    assert older
    with counting_queries() as queries:
        second = await alice.get(older.group(1).replace("&amp;", "&"))
    assert len(queries) == 1
    assert not set(ROW_ID.findall(first.text)) & set(ROW_ID.findall(second.text))


async def test_trail_is_shown_to_the_creator_only(
    new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    alice = await signed_in(new_client, issuer, ALICE)
    carol = await signed_in(new_client, issuer, CAROL)
    bob = await signed_in(new_client, issuer, BOB)
    secret_id, key = await create_secret(alice, recipient_email=BOB)
    await reveal(carol, secret_id, key)  # refused: wrong person
    await reveal(bob, secret_id, key)

    trail = await alice.get(f"/dashboard/secrets/{secret_id}/trail")
    assert trail.status_code == 200
    text = trail.text[trail.text.index('id="trail"') :]
    assert text.index("Created") < text.index("Attempt refused") < text.index("Opened")
    assert "wrong person" in text
    assert CAROL in text
    assert BOB in text

    unknown = await carol.get(f"/dashboard/secrets/{'A' * 22}/trail")
    for other in (carol, bob):
        refused = await other.get(f"/dashboard/secrets/{secret_id}/trail")
        assert refused.status_code == 404
        assert main_of(refused.text) == main_of(unknown.text)
    anonymous = new_client()
    assert (await anonymous.get(f"/dashboard/secrets/{secret_id}/trail")).status_code == 401


async def test_nav_offers_invitations_to_staff_and_audit_to_auditors_only(
    new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    auditor = await signed_in(new_client, issuer, ALICE, groups=["auditors"])
    staff = await signed_in(new_client, issuer, CAROL)
    customer = await signed_in(new_client, issuer, BOB, groups=["auditors"])
    auditor_page = (await auditor.get("/dashboard")).text
    assert 'href="/invitations"' in auditor_page
    assert 'href="/audit"' in auditor_page
    staff_page = (await staff.get("/")).text
    assert 'href="/dashboard"' in staff_page
    assert 'href="/invitations"' in staff_page
    assert 'href="/audit"' not in staff_page
    customer_page = (await customer.get("/")).text
    assert 'href="/dashboard"' in customer_page
    assert 'href="/invitations"' not in customer_page
    assert 'href="/audit"' not in customer_page


async def test_revoke_confirmation_changes_nothing_and_is_the_creators_only(
    new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    alice = await signed_in(new_client, issuer, ALICE)
    carol = await signed_in(new_client, issuer, CAROL)
    secret_id, _key = await create_secret(alice, recipient_email=BOB)
    question = f"/dashboard/secrets/{secret_id}/revoke"

    page = await alice.get(question)  # without scripts: a page of its own
    assert page.status_code == 200
    assert "<html" in page.text
    assert "Really revoke?" in page.text
    assert f'action="/s/{secret_id}/revoke"' in page.text
    inline = await alice.get(question, headers={"hx-request": "true"})  # htmx: the row asks
    assert inline.status_code == 200
    assert inline.text.lstrip().startswith(f'<li id="secret-{secret_id}"')
    assert "Really revoke?" in inline.text
    kept = await alice.get(f"/dashboard/secrets/{secret_id}", headers={"hx-request": "true"})
    assert kept.status_code == 200
    assert "Really revoke?" not in kept.text
    assert "Revoke</button>" in kept.text
    back = await alice.get(f"/dashboard/secrets/{secret_id}")
    assert back.status_code == 303
    assert back.headers["location"] == f"/dashboard#secret-{secret_id}"

    for path in (question, f"/dashboard/secrets/{secret_id}"):
        assert (await carol.get(path)).status_code == 404
    row = await Secret.select(Secret.state).where(Secret.id == secret_id).first()
    assert row == {"state": "waiting"}
    assert await AuditEvent.count().where(AuditEvent.action == "secret.revoked") == 0


async def test_private_label_is_the_creators_only(
    new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    alice = await signed_in(new_client, issuer, ALICE)
    bob = await signed_in(new_client, issuer, BOB)
    label = "VPN for ticket 4711"
    await prime_csrf(alice)
    data = {"content": "s3cret", "recipient_email": BOB, "label": f" {label}\n"}
    created = await alice.post("/secrets", data=data, headers=csrf_headers(alice, False))
    assert created.status_code == 200
    secret_id = ROW_ID.search((await alice.get("/dashboard")).text)
    assert secret_id
    sid = secret_id.group(1)
    assert label in (await alice.get("/dashboard")).text
    assert label in (await alice.get(f"/dashboard/secrets/{sid}/trail")).text
    link_page = await bob.get(f"/s/{sid}")
    assert link_page.status_code == 200
    assert label not in link_page.text
    audit = await AuditEvent.select().where(AuditEvent.secret_id == sid)
    assert audit
    assert label not in repr(audit)

    too_long = {**data, "label": "x" * 201}
    refused = await alice.post("/secrets", data=too_long, headers=csrf_headers(alice, False))
    assert refused.status_code == 400
    assert "The label is too long" in refused.text
    assert "s3cret" in refused.text  # nothing typed is lost
