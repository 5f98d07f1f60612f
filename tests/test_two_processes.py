"""Two app processes (uvicorn, as production runs) behind one PostgreSQL and one Redis: a session
made on one is valid on the other, and a one-view secret raced from both opens exactly once."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx
import pytest

from app.db.engine import create_engine, start, stop
from app.db.tables import AuditEvent, Secret
from tests.support.apps import empty_database
from tests.support.flows import CSRF_COOKIE, create_secret, sign_in
from tests.support.people import CUSTOMER, STAFF
from tests.support.services import AppProcess, free_port, http_client, own_redis


async def reveal_at(client: httpx.AsyncClient, url: str, key: str) -> httpx.Response:
    return await client.post(
        url, data={"key": key}, headers={"x-csrftoken": client.cookies.get(CSRF_COOKIE) or ""}
    )


@pytest.mark.postgres
async def test_two_processes_share_sessions_and_reveal_a_one_view_secret_once(
    postgres_url: str, issuer: str, tmp_path: Path
) -> None:
    await empty_database(postgres_url)
    with own_redis() as redis_server:
        first_port = free_port()
        env = {
            "SAFE_SHARE_ENV": "development",
            "SAFE_SHARE_DATABASE_URL": postgres_url,
            "SAFE_SHARE_REDIS_URL": redis_server.url,
            "SAFE_SHARE_OIDC_ISSUER": issuer,  # both processes trust the same provider
            "SAFE_SHARE_BASE_URL": f"http://127.0.0.1:{first_port}",
            "SAFE_SHARE_SECRET_KEY": "two-process-master-key-" + "y" * 32,
            "SAFE_SHARE_RATE_REVEAL_PER_SECRET": "1000",
            "SAFE_SHARE_RATE_REVEAL_PER_CLIENT": "1000",
        }
        first = AppProcess(env, tmp_path / "first.log", port=first_port)
        second = AppProcess(env, tmp_path / "second.log")
        try:
            async with (
                http_client(base_url=first.url) as staff,
                http_client(base_url=first.url) as customer_on_first,
            ):
                # Sessions made on the first process...
                await sign_in(staff, issuer, STAFF)
                await sign_in(customer_on_first, issuer, CUSTOMER)
                await customer_on_first.get("/")
                async with http_client(
                    base_url=second.url, cookies=customer_on_first.cookies
                ) as customer_on_second:
                    # ...are valid on the second.
                    home = await customer_on_second.get("/")
                    assert CUSTOMER in home.text
                    staff_on_second = http_client(base_url=second.url, cookies=staff.cookies)
                    async with staff_on_second:
                        content = f"raced-{secrets.token_hex(6)}"
                        secret_id, key = await create_secret(
                            staff_on_second, content=content, recipient_email=CUSTOMER
                        )
                    path = f"/s/{secret_id}/reveal"
                    results = await asyncio.gather(
                        *(
                            reveal_at(client, path, key)
                            for _ in range(10)
                            for client in (customer_on_first, customer_on_second)
                        )
                    )
                    # A sign-out on the second process holds at once on the first, which has
                    # just read (and kept) this session.
                    assert CUSTOMER in (await customer_on_first.get("/")).text
                    token = customer_on_second.cookies.get(CSRF_COOKIE) or ""
                    out = await customer_on_second.post(
                        "/auth/logout", headers={"x-csrftoken": token}
                    )
                    assert out.status_code == 303
                    after = await customer_on_first.get("/")
                    assert after.status_code == 200
                    assert CUSTOMER not in after.text
            statuses = sorted(r.status_code for r in results)
            assert statuses == [200] + [404] * 19, statuses
            assert sum(content in r.text for r in results) == 1
            engine = create_engine(postgres_url)
            await start(engine)
            try:
                revealed = await AuditEvent.count().where(
                    (AuditEvent.action == "secret.revealed") & (AuditEvent.secret_id == secret_id)
                )
                row = await Secret.select(Secret.state, Secret.ciphertext).where(
                    Secret.id == secret_id
                )
            finally:
                await stop(engine)
            assert revealed == 1
            assert row == [{"state": "opened", "ciphertext": None}]
        finally:
            first.stop()
            second.stop()
        # The processes' own output (uvicorn at debug level, our access log) leaks nothing.
        output = first.output() + second.output()
        assert "app.access" in output, output[-2000:]
        assert f"POST /s/{secret_id[:4]}…/reveal 200" in output
        for value in (content, key, secret_id, *customer_on_first.cookies.values()):
            assert value not in output
