"""Sign-in against a real OIDC provider (oidc-provider-mock), and the sharing rules."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from app.db.tables import AuditEvent, Secret
from tests.support.flows import (
    answered,
    create_secret,
    csrf_headers,
    prime_csrf,
    reveal,
    set_identity,
    sign_in,
)
from tests.support.people import CUSTOMER, OTHER_CUSTOMER, STAFF
from tests.support.services import http_client


async def test_staff_signs_in_and_sees_the_email_form(
    client: httpx.AsyncClient, issuer: str
) -> None:
    done = await sign_in(client, issuer, STAFF)
    assert done.status_code == 303
    home = answered(await client.get("/"), 200)
    assert STAFF in home.text
    assert "staff" in home.text
    assert 'name="recipient_email"' in home.text
    assert 'name="recipient_group"' not in home.text


async def test_customer_signs_in_and_picks_a_group(client: httpx.AsyncClient, issuer: str) -> None:
    await sign_in(client, issuer, CUSTOMER)
    home = answered(await client.get("/"), 200)
    assert "customer" in home.text
    assert 'name="recipient_email"' not in home.text
    for name in ("Service", "GO Engineers", "Inside Sales"):
        assert name in home.text


async def test_sign_in_brings_the_visitor_back_to_the_secret(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    secret_id, key = await create_secret(client, recipient_email=CUSTOMER)
    visitor = new_client()
    page = await visitor.get(f"/s/{secret_id}")
    assert page.status_code == 401
    assert f"/auth/login?next=/s/{secret_id}" in page.text
    done = await sign_in(visitor, issuer, CUSTOMER, next_path=f"/s/{secret_id}")
    assert done.headers["location"] == f"/s/{secret_id}"
    assert (await reveal(visitor, secret_id, key)).status_code == 200


async def test_a_signed_out_htmx_reveal_loads_the_sign_in_page_instead_of_swapping_it_in(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    secret_id, key = await create_secret(client, recipient_email=CUSTOMER)
    visitor = new_client()  # an idle-expired session looks just like this: no user
    await prime_csrf(visitor)
    htmx = await visitor.post(
        f"/s/{secret_id}/reveal", data={"key": key}, headers=csrf_headers(visitor, htmx=True)
    )
    assert htmx.status_code == 401
    assert htmx.headers["hx-redirect"] == f"/s/{secret_id}"
    assert htmx.text == ""
    # Without JavaScript the same POST answers with the page, pointing back to the secret.
    plain = await visitor.post(
        f"/s/{secret_id}/reveal", data={"key": key}, headers=csrf_headers(visitor)
    )
    assert plain.status_code == 401
    assert "hx-redirect" not in plain.headers
    assert f"/auth/login?next=/s/{secret_id}" in plain.text
    landing = await visitor.get(htmx.headers["hx-redirect"])
    assert landing.status_code == 401
    assert f"/auth/login?next=/s/{secret_id}" in landing.text
    assert await Secret.count() == 1
    row = await Secret.select(Secret.state).where(Secret.id == secret_id).first()
    assert row == {"state": "waiting"}


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil", "javascript:alert(1)"]
)
async def test_sign_in_never_redirects_off_site(
    client: httpx.AsyncClient, issuer: str, target: str
) -> None:
    done = await sign_in(client, issuer, STAFF, next_path=target)
    assert done.headers["location"] == "/"


async def test_session_id_is_rotated_at_sign_in(client: httpx.AsyncClient, issuer: str) -> None:
    await sign_in(client, issuer, STAFF)
    first = client.cookies.get("safe_share_session")
    await sign_in(client, issuer, CUSTOMER)
    second = client.cookies.get("safe_share_session")
    assert first
    assert second
    assert first != second
    # the old session no longer works
    stale = httpx.AsyncClient(
        transport=client._transport,
        base_url=str(client.base_url),
        cookies={"safe_share_session": first},
    )
    async with stale:
        assert STAFF not in answered(await stale.get("/"), 200).text


async def test_session_cookie_is_httponly_and_lax(client: httpx.AsyncClient, issuer: str) -> None:
    done = await sign_in(client, issuer, STAFF)
    cookie = next(
        v for v in done.headers.get_list("set-cookie") if v.startswith("safe_share_session=")
    )
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()


async def test_sign_out_ends_the_session_at_the_provider_too(
    client: httpx.AsyncClient, issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    await prime_csrf(client)
    out = await client.post("/auth/logout", headers=csrf_headers(client), follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"].startswith(f"{issuer}/oauth2/end_session")
    assert "id_token_hint=" in out.headers["location"]
    assert STAFF not in answered(await client.get("/"), 200).text


@pytest.mark.parametrize(
    ("back_to", "expected_next"),
    [("/s/AbCdEfGhIjKlMnOpQrStUv", "/s/AbCdEfGhIjKlMnOpQrStUv"), ("//evil.example/x", "/")],
)
async def test_signing_in_with_another_account_ends_the_session_and_asks_again(
    client: httpx.AsyncClient, issuer: str, back_to: str, expected_next: str
) -> None:
    await sign_in(client, issuer, STAFF)
    await prime_csrf(client)
    out = await client.post(
        "/auth/logout", data={"next": back_to}, headers=csrf_headers(client), follow_redirects=False
    )
    assert out.status_code == 303
    assert out.headers["location"] == "/auth/login?" + urlencode(
        {"next": expected_next, "prompt": "login"}
    )
    assert STAFF not in answered(await client.get("/"), 200).text
    # The provider is asked to authenticate again, not to reuse its own session.
    start = await client.get(out.headers["location"], follow_redirects=False)
    assert start.status_code == 302
    assert parse_qs(urlsplit(start.headers["location"]).query)["prompt"] == ["login"]
    plain = await client.get("/auth/login", params={"prompt": "none"}, follow_redirects=False)
    assert plain.status_code == 302
    assert "prompt" not in parse_qs(urlsplit(plain.headers["location"]).query)


async def _start(client: httpx.AsyncClient) -> str:
    start = await client.get("/auth/login", params={"next": "/"}, follow_redirects=False)
    return start.headers["location"]


async def _approve(authorize_url: str, sub: str) -> tuple[str, dict[str, list[str]]]:
    async with http_client() as idp:
        approved = await idp.post(authorize_url, data={"sub": sub})
    callback = urlsplit(approved.headers["location"])
    return callback.path, parse_qs(callback.query)


async def test_tampered_state_is_refused(client: httpx.AsyncClient, issuer: str) -> None:
    await set_identity(issuer, STAFF, {"email": STAFF, "email_verified": True})
    path, query = await _approve(await _start(client), STAFF)
    query["state"] = [query["state"][0] + "x"]
    refused = await client.get(f"{path}?{urlencode(query, doseq=True)}")
    assert refused.status_code == 400
    assert "Sign-in did not work" in refused.text
    assert STAFF not in answered(await client.get("/"), 200).text


async def test_replayed_code_is_refused(client: httpx.AsyncClient, issuer: str) -> None:
    await set_identity(issuer, STAFF, {"email": STAFF, "email_verified": True})
    path, query = await _approve(await _start(client), STAFF)
    url = f"{path}?{urlencode(query, doseq=True)}"
    assert (await client.get(url, follow_redirects=False)).status_code == 303
    await prime_csrf(client)
    await client.post("/auth/logout", headers=csrf_headers(client))
    replay = await client.get(url)
    assert replay.status_code == 400
    # and with a fresh state of our own, the provider refuses the used code
    fresh = urlsplit(await _start(client))
    query["state"] = parse_qs(fresh.query)["state"]
    replay_with_fresh_state = await client.get(f"{path}?{urlencode(query, doseq=True)}")
    assert replay_with_fresh_state.status_code == 400
    assert STAFF not in answered(await client.get("/"), 200).text


async def test_wrong_nonce_is_refused(client: httpx.AsyncClient, issuer: str) -> None:
    await set_identity(issuer, STAFF, {"email": STAFF, "email_verified": True})
    parts = urlsplit(await _start(client))
    params = parse_qs(parts.query)
    params["nonce"] = ["attacker-chosen-nonce"]
    forged = urlunsplit(parts._replace(query=urlencode(params, doseq=True)))
    path, query = await _approve(forged, STAFF)
    refused = await client.get(f"{path}?{urlencode(query, doseq=True)}")
    assert refused.status_code == 400
    assert STAFF not in answered(await client.get("/"), 200).text


async def test_provider_error_is_a_clear_refusal(client: httpx.AsyncClient, issuer: str) -> None:
    authorize = await _start(client)
    async with http_client() as idp:
        denied = await idp.post(authorize, data={"action": "deny"})
    callback = urlsplit(denied.headers["location"])
    refused = await client.get(f"{callback.path}?{callback.query}")
    assert refused.status_code == 400


# --- the sharing rules (DESIGN.md's table): each with an allowed and a refused case ---


async def test_staff_may_share_with_an_email_but_not_a_group(
    client: httpx.AsyncClient, issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    await create_secret(client, recipient_email=CUSTOMER)
    await prime_csrf(client)
    refused = await client.post(
        "/secrets",
        data={"content": "x", "recipient_group": "service", "expires_in": "3600", "max_views": "1"},
        headers=csrf_headers(client),
    )
    assert refused.status_code == 403
    assert await Secret.count() == 1


async def test_customer_may_share_with_a_group(client: httpx.AsyncClient, issuer: str) -> None:
    await sign_in(client, issuer, CUSTOMER)
    secret_id, _ = await create_secret(client, recipient_group="service")
    row = (
        await Secret.select(Secret.recipient_group, Secret.recipient_email)
        .where(Secret.id == secret_id)
        .first()
    )
    assert row == {"recipient_group": "service", "recipient_email": None}


async def test_customer_forging_an_email_recipient_is_refused_and_audited(
    client: httpx.AsyncClient, issuer: str
) -> None:
    await sign_in(client, issuer, CUSTOMER)
    await prime_csrf(client)
    forged = await client.post(
        "/secrets",
        data={
            "content": "x",
            "recipient_email": OTHER_CUSTOMER,
            "recipient_group": "service",
            "expires_in": "3600",
            "max_views": "1",
        },
        headers=csrf_headers(client),
    )
    assert forged.status_code == 403
    assert await Secret.count() == 0
    events = await AuditEvent.select(
        AuditEvent.action, AuditEvent.actor, AuditEvent.outcome, AuditEvent.reason
    ).where(AuditEvent.action == "secret.create_refused")
    assert events == [
        {
            "action": "secret.create_refused",
            "actor": CUSTOMER,
            "outcome": "refused",
            "reason": "customer_addressed_email",
        }
    ]


async def test_customer_cannot_address_an_unknown_group(
    client: httpx.AsyncClient, issuer: str
) -> None:
    await sign_in(client, issuer, CUSTOMER)
    await prime_csrf(client)
    refused = await client.post(
        "/secrets",
        data={"content": "x", "recipient_group": "admins", "expires_in": "3600", "max_views": "1"},
        headers=csrf_headers(client),
    )
    assert refused.status_code == 400
    assert "Choose the team" in refused.text


async def test_group_member_opens_a_group_secret_and_others_cannot(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    await sign_in(client, issuer, CUSTOMER)
    secret_id, key = await create_secret(client, recipient_group="service")
    sales = new_client()
    await sign_in(sales, issuer, "sam@prowise.com", groups=["inside-sales"])
    refused = await reveal(sales, secret_id, key)
    assert refused.status_code == 403
    assert "meant for someone else" in refused.text
    outsider = new_client()
    # a customer claiming the group is still not staff
    await sign_in(outsider, issuer, OTHER_CUSTOMER, groups=["service"])
    assert (await reveal(outsider, secret_id, key)).status_code == 403
    member = new_client()
    await sign_in(member, issuer, "sven@prowise.com", groups=["service"])
    assert (await member.get(f"/s/{secret_id}")).status_code == 200
    assert (await reveal(member, secret_id, key, htmx=True)).status_code == 200


async def test_customer_opens_what_is_addressed_to_their_email_only(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    secret_id, key = await create_secret(client, recipient_email=CUSTOMER)
    other = new_client()
    await sign_in(other, issuer, OTHER_CUSTOMER)
    assert (await other.get(f"/s/{secret_id}")).status_code == 403
    assert (await reveal(other, secret_id, key)).status_code == 403
    row = await Secret.select(Secret.views_left).where(Secret.id == secret_id).first()
    assert row == {"views_left": 1}
    refusals = await AuditEvent.select(AuditEvent.actor, AuditEvent.reason).where(
        AuditEvent.action == "secret.refused"
    )
    assert refusals == [{"actor": OTHER_CUSTOMER, "reason": "wrong_person"}] * 2
    right = new_client()
    await sign_in(right, issuer, CUSTOMER)
    assert (await reveal(right, secret_id, key)).status_code == 200


async def test_unverified_email_opens_nothing_and_creates_nothing(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    await sign_in(client, issuer, STAFF)
    secret_id, key = await create_secret(client, recipient_email=CUSTOMER)
    unverified = new_client()
    await sign_in(unverified, issuer, CUSTOMER, verified=False)
    assert (await reveal(unverified, secret_id, key)).status_code == 403
    unverified_staff = new_client()
    await sign_in(unverified_staff, issuer, "mallory@prowise.com", verified=False)
    home = await unverified_staff.get("/")
    assert home.status_code == 200
    # an unverified staff-domain email is not staff, and not shown as a customer either
    assert "customer" not in home.text
    assert 'name="recipient_email"' not in home.text
    await prime_csrf(unverified_staff)
    forged = await unverified_staff.post(
        "/secrets",
        data={"content": "x", "recipient_group": "service", "expires_in": "3600", "max_views": "1"},
        headers=csrf_headers(unverified_staff),
    )
    assert forged.status_code == 403


async def test_staff_claim_makes_staff_outside_the_staff_domain(
    client: httpx.AsyncClient, issuer: str
) -> None:
    await sign_in(client, issuer, "contractor@partner.example", groups=["staff", "service"])
    home = await client.get("/")
    assert 'name="recipient_email"' in home.text


async def test_forged_recipient_with_a_nul_byte_is_refused_and_audited_readably(
    client: httpx.AsyncClient, issuer: str
) -> None:
    await sign_in(client, issuer, CUSTOMER)
    await prime_csrf(client)
    forged = await client.post(
        "/secrets",
        data={"content": "x", "recipient_email": "eve\x00@example.net", "expires_in": "3600"},
        headers=csrf_headers(client),
    )
    assert forged.status_code == 403
    row = await AuditEvent.select(AuditEvent.target).where(
        AuditEvent.action == "secret.create_refused"
    )
    assert row == [{"target": "eve\ufffd@example.net"}]
