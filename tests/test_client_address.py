"""One client address for every per-client rate limit, the audited client hash and the access
log: the socket peer, or, behind proxies listed in SAFE_SHARE_TRUSTED_PROXIES, the rightmost
X-Forwarded-For entry that no trusted proxy wrote. A client cannot choose its own address, and
uvicorn's own proxy-header handling is off everywhere, so this is the only mechanism."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import crypto
from app.db.tables import AuditEvent
from app.settings import Settings, SettingsError, load_settings
from app.web.accesslog import AccessLogMiddleware
from app.web.clientaddress import client_address
from tests.apps import ROOT, AppProcess, browser, own_redis, serving
from tests.support import FrozenClock
from tests.test_access_log_redaction import access_lines

REAL = "198.51.100.7"


def scope(peer: str, *forwarded: str) -> Any:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return {"type": "http", "client": (peer, 50000), "headers": headers}


def proxies(value: str, tmp_path: Path) -> Settings:
    return load_settings({"SAFE_SHARE_TRUSTED_PROXIES": value}, dev_dir=tmp_path)


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "expected"),
    [
        # Off by default: the header is the client's own text, whoever sends it.
        ("", "203.0.113.9", ("6.6.6.6",), "203.0.113.9"),
        ("", "127.0.0.1", ("6.6.6.6",), "127.0.0.1"),
        # Behind a trusted proxy: the entry it appended, not the client's leftmost guess.
        ("10.0.0.0/8", "10.0.0.2", (f"6.6.6.6, {REAL}",), REAL),
        ("10.0.0.0/8", "10.0.0.2", (f"6.6.6.6, {REAL}, 10.0.0.3",), REAL),
        ("10.0.0.0/8", "10.0.0.2", ("6.6.6.6", f"{REAL}, 10.0.0.3"), REAL),  # two header lines
        ("10.0.0.2, 10.0.0.3", "10.0.0.2", (f"{REAL}:4711, 10.0.0.3",), REAL),
        ("10.0.0.0/8", "10.0.0.2", ("[2001:db8::7]:443",), "2001:db8::7"),
        ("10.0.0.0/8", "::ffff:10.0.0.2", (REAL,), REAL),  # a dual-stack socket's IPv4 peer
        # A peer that is no trusted proxy: its header is ignored.
        ("10.0.0.0/8", "203.0.113.9", (REAL,), "203.0.113.9"),
        # Garbage or only trusted hops: the last hop a trusted proxy vouched for.
        ("10.0.0.0/8", "10.0.0.2", ("not-an-address",), "10.0.0.2"),
        ("10.0.0.0/8", "10.0.0.2", (f"{REAL}, nonsense",), "10.0.0.2"),
        ("10.0.0.0/8", "10.0.0.2", ("10.0.0.9",), "10.0.0.9"),
        ("10.0.0.0/8", "10.0.0.2", (), "10.0.0.2"),
    ],
)
def test_the_client_address_is_the_hop_the_trusted_proxy_added(
    tmp_path: Path, trusted: str, peer: str, forwarded: tuple[str, ...], expected: str
) -> None:
    assert client_address(scope(peer, *forwarded), proxies(trusted, tmp_path)) == expected


@pytest.mark.parametrize(
    "env",
    [
        {"SAFE_SHARE_TRUSTED_PROXIES": "10.0.0.300"},
        {"SAFE_SHARE_TRUSTED_PROXIES": "proxy.example.com"},
        {"SAFE_SHARE_TRUST_PROXY_HEADERS": "true"},  # replaced: it trusted any sender
    ],
)
def test_proxy_settings_that_would_trust_the_wrong_hop_are_refused(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        load_settings(env, dev_dir=tmp_path)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_rotating_x_forwarded_for_escapes_no_limit_and_no_audit_hash(
    make_settings: Callable[..., Settings], database_url: str, clock: FrozenClock
) -> None:
    # The in-process test transport connects from 127.0.0.1: here, that is the proxy.
    with own_redis() as redis:  # counters shared through Redis, as in production
        settings = make_settings(
            database_url,
            redis_url=redis.url,
            trusted_proxies="127.0.0.1",
            rate_signin_per_client="3",
        )
        await flood_from_behind_a_proxy(settings, clock)


async def flood_from_behind_a_proxy(settings: Settings, clock: FrozenClock) -> None:
    async with serving(settings, clock) as app:
        served = AccessLogMiddleware(app)
        with access_lines() as lines:
            async with browser(served) as attacker, browser(served) as other:
                statuses = []
                for n in range(5):
                    answer = await attacker.get(
                        "/auth/callback?error=access_denied",
                        headers={"x-forwarded-for": f"10.9.{n}.{n}, {REAL}"},
                    )
                    statuses.append(answer.status_code)
                assert statuses == [400, 400, 400, 429, 429]
                # Another client behind the same proxy has its own budget.
                fresh = await other.get(
                    "/auth/callback?error=access_denied",
                    headers={"x-forwarded-for": "198.51.100.8"},
                )
                assert fresh.status_code == 400
        hashes = [row["client"] for row in await AuditEvent.select(AuditEvent.client)]
    expected = crypto.pseudonymise(REAL, settings.secret_keys)
    assert hashes.count(expected) == 3  # every refusal under the one real address
    assert len(set(hashes)) == 2
    # The access log names the same client, by the same hash, for all five requests.
    assert sum(f"client={expected[:8]}" in line for line in lines) == 5


@pytest.mark.postgres
async def test_uvicorn_does_not_take_the_address_from_the_header(
    postgres_url: str, issuer: str, tmp_path: Path
) -> None:
    env = {
        "SAFE_SHARE_DATABASE_URL": postgres_url,
        "SAFE_SHARE_OIDC_ISSUER": issuer,
        "SAFE_SHARE_SECRET_KEY": "client-address-key-" + "z" * 32,
        "SAFE_SHARE_RATE_SIGNIN_PER_CLIENT": "3",
    }
    server = AppProcess(env, tmp_path / "app.log")
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            statuses = [
                (
                    await client.get("/auth/login", headers={"x-forwarded-for": f"10.8.0.{n}"})
                ).status_code
                for n in range(5)
            ]
        assert statuses == [302, 302, 302, 429, 429]
    finally:
        server.stop()


def test_every_uvicorn_launch_leaves_proxy_headers_to_the_app() -> None:
    # uvicorn's --proxy-headers (its default) would rewrite the peer from X-Forwarded-For.
    for name in (
        "docker-entrypoint.sh",
        "tests/apps.py",
        "tests/browser/conftest.py",
        "benchmarks/run.py",
        "benchmarks/appserver.py",  # soak and files start the app here
    ):
        text = (ROOT / name).read_text()
        assert "--no-proxy-headers" in text, name
        assert "--proxy-headers" not in text, name
    for name in ("app/devserver.py", "tests/test_layout_browser.py"):
        assert "proxy_headers=False" in (ROOT / name).read_text(), name
