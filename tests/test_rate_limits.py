"""Rate limits: guessing keys, flooding sign-in or creation is slowed to a crawl, with a clear
translated 429 page and Retry-After; a refused request changes nothing; windows follow the
app's clock; counters in Redis are shared by every process."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from app.db.tables import AuditEvent, Secret
from app.settings import Settings
from app.web.ratelimit import rules_from_settings
from tests.support.apps import FrozenClock, client_of, serving
from tests.support.flows import create_secret, csrf_headers, prime_csrf, reveal, sign_in
from tests.support.people import CUSTOMER, OTHER_CUSTOMER, OTHER_STAFF, STAFF

WRONG_KEY = "A" * 43

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def assert_429(response: httpx.Response, htmx: bool = False) -> None:
    assert response.status_code == 429, response.text
    assert "Too many attempts" in response.text
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert ("<html" in response.text) is not htmx


async def test_key_guessing_on_one_secret_is_limited_and_spends_no_view(
    make_settings: Callable[..., Settings], database_url: str, issuer: str, clock: FrozenClock
) -> None:
    settings = make_settings(database_url, rate_reveal_per_secret="3")
    async with serving(settings, clock) as app, client_of(app) as staff, client_of(app) as customer:
        await sign_in(staff, issuer, STAFF)
        await sign_in(customer, issuer, CUSTOMER)
        secret_id, key = await create_secret(staff, recipient_email=CUSTOMER)
        for _ in range(3):
            assert (await reveal(customer, secret_id, WRONG_KEY)).status_code == 400
        assert_429(await reveal(customer, secret_id, WRONG_KEY))
        assert_429(await reveal(customer, secret_id, WRONG_KEY, htmx=True), htmx=True)
        # Even the right key waits: the limit is on the secret, not on the guesses.
        blocked = await reveal(customer, secret_id, key)
        assert_429(blocked)
        assert "correct horse" not in blocked.text
        row = await Secret.select(Secret.views_left).where(Secret.id == secret_id).first()
        assert row == {"views_left": 1}
        # A refused request never reached the handler: no audit row for it.
        refused = await AuditEvent.count().where(AuditEvent.action == "secret.refused")
        assert refused == 3
        clock.advance(seconds=60)
        opened = await reveal(customer, secret_id, key)
        assert opened.status_code == 200
        assert "correct horse battery staple" in opened.text


async def test_someone_holding_only_the_id_cannot_lock_the_recipient_out(
    make_settings: Callable[..., Settings], database_url: str, issuer: str, clock: FrozenClock
) -> None:
    settings = make_settings(database_url, rate_reveal_per_secret="3")
    async with (
        serving(settings, clock) as app,
        client_of(app) as staff,
        client_of(app) as customer,
        client_of(app) as stranger,
        client_of(app) as other_user,
    ):
        await sign_in(staff, issuer, STAFF)
        await sign_in(customer, issuer, CUSTOMER)
        await sign_in(other_user, issuer, OTHER_CUSTOMER)
        secret_id, key = await create_secret(staff, recipient_email=CUSTOMER)
        # Anonymous posts without a CSRF token, then a signed-in non-recipient's tries: each
        # is refused, then limited, on a budget of their own.
        forged = [
            (await stranger.post(f"/s/{secret_id}/reveal", data={"key": WRONG_KEY})).status_code
            for _ in range(10)
        ]
        assert forged == [403] * 3 + [429] * 7
        wrong = [(await reveal(other_user, secret_id, WRONG_KEY)).status_code for _ in range(5)]
        assert wrong == [403] * 3 + [429] * 2
        opened = await reveal(customer, secret_id, key)
        assert opened.status_code == 200
        assert "correct horse battery staple" in opened.text


async def test_one_client_guessing_across_secrets_is_limited(
    make_settings: Callable[..., Settings], database_url: str, issuer: str, clock: FrozenClock
) -> None:
    settings = make_settings(database_url, rate_reveal_per_client="4")
    async with serving(settings, clock) as app, client_of(app) as staff, client_of(app) as customer:
        await sign_in(staff, issuer, STAFF)
        await sign_in(customer, issuer, CUSTOMER)
        ids = [(await create_secret(staff, recipient_email=CUSTOMER))[0] for _ in range(5)]
        statuses = [(await reveal(customer, secret_id, WRONG_KEY)).status_code for secret_id in ids]
        assert statuses == [400, 400, 400, 400, 429]


async def test_sign_in_starts_are_limited_per_client(
    make_settings: Callable[..., Settings], database_url: str, clock: FrozenClock
) -> None:
    settings = make_settings(database_url, rate_signin_per_client="2")
    async with serving(settings, clock) as app, client_of(app) as visitor:
        for _ in range(2):
            assert (await visitor.get("/auth/login")).status_code == 302
        limited = await visitor.get("/auth/login", headers={"accept-language": "de"})
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert 'lang="de"' in limited.text
        clock.advance(minutes=1)
        assert (await visitor.get("/auth/login")).status_code == 302


async def test_secret_creation_is_limited_per_user_not_per_address(
    make_settings: Callable[..., Settings], database_url: str, issuer: str, clock: FrozenClock
) -> None:
    settings = make_settings(database_url, rate_create_per_user="2")
    async with serving(settings, clock) as app, client_of(app) as alice, client_of(app) as carol:
        await sign_in(alice, issuer, STAFF)
        await sign_in(carol, issuer, OTHER_STAFF)
        for _ in range(2):
            await create_secret(alice, recipient_email=CUSTOMER)
        await prime_csrf(alice)
        data = {"content": "third", "recipient_email": CUSTOMER, "expires_in": "3600"}
        for htmx in (False, True):
            assert_429(
                await alice.post("/secrets", data=data, headers=csrf_headers(alice, htmx)), htmx
            )
        assert await Secret.count() == 2
        # Another person at the same address still may.
        await create_secret(carol, recipient_email=CUSTOMER)
        assert await Secret.count() == 3


@pytest.mark.parametrize(
    ("method", "path", "rule"),
    [
        ("POST", "/s/abc/reveal", "reveal"),
        ("POST", "/received/abc/reveal", "received-reveal"),
        ("POST", "/i/some-token", "guest"),
        ("GET", "/auth/login", "signin"),
        ("POST", "/secrets", "create"),
        ("POST", "/invitations", "create"),
    ],
)
def test_every_abusable_route_has_a_limit(
    make_settings: Callable[..., Settings], database_url: str, method: str, path: str, rule: str
) -> None:
    # Routes built by other features (guest invitations) are limited by path, whoever adds them.
    rules = rules_from_settings(make_settings(database_url))
    matching = [r.name for r in rules if r.method == method and r.pattern.match(path)]
    assert matching == [rule]
    assert not [r for r in rules if r.method == "GET" and r.pattern.match("/s/abc")]


async def test_guest_submissions_are_limited_per_token(
    make_settings: Callable[..., Settings], database_url: str, clock: FrozenClock
) -> None:
    settings = make_settings(database_url, rate_guest_per_token="2", rate_guest_per_client="100")
    async with serving(settings, clock) as app, client_of(app) as guest:
        await prime_csrf(guest)
        token = "t" * 43
        statuses = [
            (
                await guest.post(f"/i/{token}", data={"content": "x"}, headers=csrf_headers(guest))
            ).status_code
            for _ in range(3)
        ]
        assert statuses == [404, 404, 429]  # no such invitation, twice; then limited


@pytest.mark.redis
async def test_reveal_limit_is_shared_by_two_app_processes_through_redis(
    make_settings: Callable[..., Settings],
    database_url: str,
    redis_url: str,
    issuer: str,
    clock: FrozenClock,
) -> None:
    settings = make_settings(database_url, redis_url=redis_url, rate_reveal_per_secret="4")
    async with (
        serving(settings, clock) as first,
        serving(settings, clock) as second,
        client_of(first) as staff,
        client_of(first) as on_first,
        client_of(second) as on_second,
    ):
        await sign_in(staff, issuer, STAFF)
        await sign_in(on_first, issuer, CUSTOMER)
        await sign_in(on_second, issuer, CUSTOMER)
        secret_id, _key = await create_secret(staff, recipient_email=CUSTOMER)
        statuses = []
        for turn in range(6):
            who = on_first if turn % 2 == 0 else on_second
            statuses.append((await reveal(who, secret_id, WRONG_KEY)).status_code)
        assert statuses == [400, 400, 400, 400, 429, 429]
