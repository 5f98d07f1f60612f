"""The audit trail: every action leaves the right row and never a secret; auditors only."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx

from app.db.tables import AuditEvent
from app.services.sweeper import sweep
from tests.support.apps import FrozenClock
from tests.support.flows import create_secret, reveal, revoke, sign_in, signed_in, signed_in_auditor
from tests.support.people import AUDITOR, CUSTOMER, OTHER_STAFF, STAFF

ROW = re.compile(r"<tr>\s*<td>", re.S)


def event(clock: FrozenClock, n: int, **values: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "at": clock.now - timedelta(minutes=n // 3),  # groups of three share a time
        "actor": CUSTOMER,
        "action": "secret.refused",
        "outcome": "refused",
        "secret_id": f"s{n:05d}",
        "target": STAFF,
        "reason": "wrong_key",
    }
    fields.update(values)
    return AuditEvent(**fields)


async def test_each_action_leaves_its_row_and_no_row_holds_content_key_or_link(
    new_client: Callable[[], httpx.AsyncClient], issuer: str, clock: FrozenClock
) -> None:
    alice = await signed_in(new_client, issuer, STAFF)
    carol = await signed_in(new_client, issuer, OTHER_STAFF)
    bob = await signed_in(new_client, issuer, CUSTOMER)
    contents = [f"content-{name}-Zq9" for name in ("opened", "refused", "revoked", "expired")]
    opened, k1 = await create_secret(alice, content=contents[0], recipient_email=CUSTOMER)
    refused, k2 = await create_secret(alice, content=contents[1], recipient_email=CUSTOMER)
    revoked, k3 = await create_secret(alice, content=contents[2], recipient_email=CUSTOMER)
    expired, k4 = await create_secret(
        alice, content=contents[3], recipient_email=CUSTOMER, expires_in="3600"
    )

    assert (await reveal(bob, opened, k1)).status_code == 200
    assert (await reveal(carol, refused, k2)).status_code == 403  # wrong person
    assert (await reveal(bob, refused, k1)).status_code == 400  # wrong key
    assert (await revoke(alice, revoked, htmx=True)).status_code == 200
    clock.advance(hours=2)
    assert (await sweep(clock(), timedelta(days=365))).secrets_expired == 1

    rows = await AuditEvent.select().order_by(AuditEvent.id)
    trail = [
        (r["action"], r["actor"], r["outcome"], r["secret_id"], r["reason"])
        for r in rows
        if r["secret_id"]
    ]
    assert trail == [
        ("secret.created", STAFF, "ok", opened, ""),
        ("secret.created", STAFF, "ok", refused, ""),
        ("secret.created", STAFF, "ok", revoked, ""),
        ("secret.created", STAFF, "ok", expired, ""),
        ("secret.revealed", CUSTOMER, "ok", opened, "last_view"),
        ("secret.refused", OTHER_STAFF, "refused", refused, "wrong_person"),
        ("secret.refused", CUSTOMER, "refused", refused, "wrong_key"),
        ("secret.revoked", STAFF, "ok", revoked, ""),
        ("secret.expired", "system", "ok", expired, ""),
    ]
    everything = repr(rows)
    for secret in (*contents, k1, k2, k3, k4, f"{opened}#{k1}"):
        assert secret not in everything
    # Client addresses are keyed hashes, never the address itself.
    assert "127.0.0.1" not in everything


async def test_non_auditors_are_refused_the_audit_trail_and_its_export(
    new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    staff = await signed_in(new_client, issuer, OTHER_STAFF)
    # A customer claiming the auditors group is still no auditor: the role needs staff.
    customer = await signed_in(new_client, issuer, CUSTOMER, groups=["auditors"])
    for browser in (staff, customer):
        for path in ("/audit", "/audit.csv", "/audit.csv?action=signin"):
            answer = await browser.get(path)
            assert answer.status_code == 403, path
            assert "Only auditors" in answer.text
            assert "signin" not in answer.text.replace("action=signin", "")
    anonymous = new_client()
    for path in ("/audit", "/audit.csv"):
        answer = await anonymous.get(path)
        assert answer.status_code == 401
        assert "csv" not in answer.headers["content-type"]


async def test_auditor_filters_by_person_action_and_dates(
    new_client: Callable[[], httpx.AsyncClient], issuer: str, clock: FrozenClock
) -> None:
    auditor = await signed_in_auditor(new_client, issuer)
    day = clock.now
    await AuditEvent.insert(
        event(clock, 0, at=day - timedelta(days=2), actor=OTHER_STAFF, secret_id="old"),
        event(clock, 0, at=day, actor=OTHER_STAFF, secret_id="today1"),
        event(clock, 0, at=day, actor=CUSTOMER, secret_id="today2"),
        event(clock, 0, at=day, actor=OTHER_STAFF, action="secret.created", secret_id="today3"),
    )

    def secret_ids(page: httpx.Response) -> set[str]:
        return set(re.findall(r"/audit\?secret=([a-z0-9]+)", page.text))

    by_person = await auditor.get("/audit", params={"actor": " Carol@Prowise.com "})
    assert by_person.status_code == 200
    assert secret_ids(by_person) == {"old", "today1", "today3"}
    by_action = await auditor.get(
        "/audit", params={"actor": OTHER_STAFF, "action": "secret.refused"}
    )
    assert secret_ids(by_action) == {"old", "today1"}
    today = f"{day:%Y-%m-%d}"
    by_date = await auditor.get("/audit", params={"actor": OTHER_STAFF, "from": today, "to": today})
    assert secret_ids(by_date) == {"today1", "today3"}
    before = f"{day - timedelta(days=1):%Y-%m-%d}"
    until_yesterday = await auditor.get("/audit", params={"to": before})
    assert secret_ids(until_yesterday) == {"old"}
    by_secret = await auditor.get("/audit", params={"secret": "today2"})
    assert secret_ids(by_secret) == {"today2"}


async def test_a_bad_filter_is_a_clear_400_that_keeps_what_was_typed(
    new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    auditor = await signed_in_auditor(new_client, issuer)
    answer = await auditor.get(
        "/audit",
        params={"actor": "bob@example.com", "from": "2026-13-45", "to": "2026-01-01"},
    )
    assert answer.status_code == 400
    assert "Enter a date like" in answer.text
    assert 'value="bob@example.com"' in answer.text
    assert 'value="2026-13-45"' in answer.text
    reversed_range = await auditor.get("/audit", params={"from": "2026-02-01", "to": "2026-01-01"})
    assert reversed_range.status_code == 400
    assert "must not be before" in reversed_range.text
    for params in (
        {"from": "0001-01-01"},
        {"to": "9999-12-31"},
        {"action": "<script>"},
        {"secret": "../x"},
        {"after": "x.1"},
        {"after": "1." + "9" * 30},
        {"after": "1.abc"},
    ):
        bad = await auditor.get("/audit", params=params)
        assert bad.status_code == 400, params
        assert "<script>" not in bad.text
    assert (await auditor.get("/audit.csv", params={"to": "nope"})).status_code == 400


async def test_audit_pages_follow_each_other_without_duplicates(
    new_client: Callable[[], httpx.AsyncClient], issuer: str, clock: FrozenClock
) -> None:
    auditor = await signed_in_auditor(new_client, issuer)
    await AuditEvent.insert(*(event(clock, n) for n in range(120)))
    seen: list[str] = []
    url: str | None = "/audit?action=secret.refused"
    pages = 0
    while url:
        page = await auditor.get(url)
        assert page.status_code == 200
        seen += re.findall(r"/audit\?secret=(s\d+)", page.text)
        pages += 1
        more = re.search(r'href="(/audit\?[^"]+)" rel="next"', page.text)
        url = more.group(1).replace("&amp;", "&") if more else None
        if url:
            assert "action=secret.refused" in url  # the filter travels with the page link
    assert pages == 3  # 50 + 50 + 20
    assert len(seen) == len(set(seen)) == 120
    # Newest first, and among rows of the same time the later one first.
    assert seen == [f"s{n:05d}" for n in sorted(range(120), key=lambda n: (n // 3, -n))]


async def test_csv_export_is_the_filtered_trail_properly_escaped_and_formula_safe(
    new_client: Callable[[], httpx.AsyncClient], issuer: str, clock: FrozenClock
) -> None:
    auditor = await signed_in_auditor(new_client, issuer)
    hostile = {
        "actor": "=cmd|' /C calc'!A0",
        "target": "+SUM(A1:A9)",
        "reason": "-2+3",
        "user_agent": '@evil, "quoted"\nnext line',
        "client": "\tTAB",
    }
    await AuditEvent.insert(
        event(clock, 0, secret_id="plain1"),
        event(clock, 1, secret_id="hostile", **hostile),
        event(clock, 2, secret_id="other", action="secret.created", outcome="ok"),
    )
    answer = await auditor.get("/audit.csv", params={"action": "secret.refused"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["secret_id"] for r in rows] == ["hostile", "plain1"]  # newest first, as shown
    bad, plain = rows
    assert plain["actor"] == CUSTOMER
    assert plain["reason"] == "wrong_key"
    assert plain["at"] == clock.now.isoformat()
    assert bad["actor"] == "'" + hostile["actor"]
    assert bad["target"] == "'" + hostile["target"]
    assert bad["reason"] == "'" + hostile["reason"]
    assert bad["user_agent"] == "'" + hostile["user_agent"]  # comma, quotes, newline survive
    assert bad["client"] == "'" + hostile["client"]
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t"))

    # Taking a copy of the trail is itself on the trail.
    exported = await AuditEvent.select(AuditEvent.actor, AuditEvent.reason).where(
        AuditEvent.action == "audit.exported"
    )
    assert exported == [{"actor": AUDITOR, "reason": "action=secret.refused"}]


async def test_csv_export_streams_every_row_past_one_batch(
    new_client: Callable[[], httpx.AsyncClient], issuer: str, clock: FrozenClock
) -> None:
    auditor = await signed_in_auditor(new_client, issuer)
    await AuditEvent.insert(*(event(clock, n) for n in range(2500)))
    answer = await auditor.get("/audit.csv", params={"actor": CUSTOMER})
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 2500
    assert len({r["secret_id"] for r in rows}) == 2500


async def test_auditor_sees_the_trail_in_the_page(
    new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    auditor = await signed_in_auditor(new_client, issuer)
    alice = await signed_in(new_client, issuer, STAFF)
    secret_id, _key = await create_secret(alice, recipient_email=CUSTOMER)
    page = await auditor.get("/audit")
    assert page.status_code == 200
    assert f"/audit?secret={secret_id}" in page.text
    assert "Created" in page.text
    assert 'href="/audit.csv"' in page.text
    filtered = await auditor.get("/audit", params={"actor": STAFF})
    assert 'href="/audit.csv?actor=alice%40prowise.com"' in filtered.text
    await sign_in(auditor, issuer, AUDITOR, groups=[])  # no longer an auditor
    assert (await auditor.get("/audit")).status_code == 403


async def test_a_row_keeps_the_first_120_characters_of_the_browsers_user_agent(
    new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    alice = await signed_in(new_client, issuer, STAFF)
    bob = await signed_in(new_client, issuer, CUSTOMER)
    agent = "Mozilla/5.0 (X11; Linux x86_64) Safe/" + "é-x" * 60
    alice.headers["user-agent"] = agent
    bob.headers["user-agent"] = "Phone/1"
    secret_id, key = await create_secret(alice, recipient_email=CUSTOMER)
    assert (await reveal(bob, secret_id, key)).status_code == 200
    rows = await AuditEvent.select(AuditEvent.action, AuditEvent.user_agent).where(
        AuditEvent.secret_id == secret_id
    )
    agents = {row["action"]: row["user_agent"] for row in rows}
    # httpx sends the header as UTF-8; the row keeps its first 120 bytes as Latin-1 text.
    assert agents["secret.created"] == agent.encode()[:120].decode("latin-1")
    assert agents["secret.revealed"] == "Phone/1"
