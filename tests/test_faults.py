"""Faults: Redis or PostgreSQL going away never loses a secret, never reveals one twice, and the
app recovers by itself when they come back.

Redis: our OWN redis-server on a free port, killed and restarted. PostgreSQL: this run's own
throw-away database refuses connections and has its connections terminated (the shared server
itself is never touched).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import asyncpg
import pytest
from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker
from redis.asyncio import Redis

from app.db.engine import bind_engine
from app.db.tables import AuditEvent, Secret
from app.settings import Settings
from app.worker import WorkerSettings, sweep_job
from tests.support.apps import FrozenClock, client_of, serving
from tests.support.flows import answered, create_secret, csrf_headers, reveal, sign_in
from tests.support.people import CUSTOMER, STAFF
from tests.support.services import PG_ADMIN_URL, own_redis

WRONG_KEY = "A" * 43


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def count(self, text: str) -> int:
        return sum(text in record.getMessage() for record in self.records)


@contextmanager
def recording() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


async def redis_keys(url: str, pattern: str) -> list[bytes]:
    client: Redis = Redis.from_url(url)
    try:
        return [key async for key in client.scan_iter(match=pattern)]
    finally:
        await client.aclose()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_redis_outage_keeps_sharing_working_and_the_app_returns_to_redis(
    make_settings: Callable[..., Settings], database_url: str, issuer: str, clock: FrozenClock
) -> None:
    with own_redis() as server:
        settings = make_settings(database_url, redis_url=server.url, rate_reveal_per_secret="3")
        async with (
            serving(settings, clock) as app,
            client_of(app) as staff,
            client_of(app) as customer,
        ):
            await sign_in(staff, issuer, STAFF)
            await sign_in(customer, issuer, CUSTOMER)
            assert len(await redis_keys(server.url, "safe_share*session*")) == 2
            before_id, before_key = await create_secret(staff, recipient_email=CUSTOMER)
            assert await redis_keys(server.url, "safe_share:rl:*")

            server.stop()
            with recording() as logs:
                # Still signed in (this process's copy), still creating and revealing.
                during_id, during_key = await create_secret(staff, recipient_email=CUSTOMER)
                opened = await reveal(customer, during_id, during_key)
                assert opened.status_code == 200
                assert "correct horse battery staple" in opened.text
                assert (await reveal(customer, before_id, before_key)).status_code == 200
                # Rate limits go on, counted locally.
                guarded_id, _key = await create_secret(staff, recipient_email=CUSTOMER)
                statuses = [
                    (await reveal(customer, guarded_id, WRONG_KEY)).status_code for _ in range(4)
                ]
                assert statuses == [400, 400, 400, 429]
                # One warning per outage and store, not one per request.
                assert logs.count("rate limits: Redis unavailable") == 1
                assert logs.count("session store: Redis unavailable") == 1

            server.start()  # same port, empty: this Redis keeps nothing on disk
            with recording() as logs:
                # Sessions lived in Redis, which lost them: Redis is the authority, so sign in again.
                home = answered(await staff.get("/"), 200)
                assert STAFF not in home.text
                await sign_in(staff, issuer, STAFF)
                assert (await staff.get("/")).status_code == 200
                after_id, after_key = await create_secret(staff, recipient_email=CUSTOMER)
                assert logs.count("rate limits: Redis is back") == 1
            assert len(await redis_keys(server.url, "safe_share*session*")) == 1
            assert await redis_keys(server.url, "safe_share:rl:*")

            # The worker connects to the restarted Redis and catches up on expiries missed
            # during the outage (the app's clock is far behind real time: all waiting expired).
            redis_settings = RedisSettings.from_dsn(server.url)
            pool = await create_pool(redis_settings)
            await pool.enqueue_job("sweep_job")
            worker = Worker(
                functions=[sweep_job],
                redis_settings=redis_settings,
                burst=True,
                on_startup=WorkerSettings.on_startup,
                on_shutdown=WorkerSettings.on_shutdown,
                ctx={"settings": settings},
                handle_signals=False,
                poll_delay=0.05,
            )
            try:
                await worker.main()
            finally:
                await worker.close()
                await pool.aclose()
            assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)
            bind_engine(app.state.engine)
            states = {
                row["id"]: row["state"] for row in await Secret.select(Secret.id, Secret.state)
            }
            assert states == {
                before_id: "opened",
                during_id: "opened",
                guarded_id: "expired",
                after_id: "expired",
            }
            assert after_key  # created after the restart, swept by the worker


@pytest.mark.postgres
async def test_database_outage_gives_a_clear_503_and_the_app_recovers_without_restart(
    make_settings: Callable[..., Settings], postgres_url: str, issuer: str, clock: FrozenClock
) -> None:
    settings = make_settings(postgres_url)
    database = postgres_url.rsplit("/", 1)[1]
    async with (
        serving(settings, clock) as app,
        client_of(app) as staff,
        client_of(app) as customer,
    ):
        await sign_in(staff, issuer, STAFF)
        await sign_in(customer, issuer, CUSTOMER)
        secret_id, key = await create_secret(staff, recipient_email=CUSTOMER)
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            # Our own throw-away database only: refuse new connections, end the open ones.
            await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
            for htmx in (False, True):
                refused = await reveal(customer, secret_id, key, htmx=htmx)
                assert refused.status_code == 503, refused.text
                assert "briefly unavailable" in refused.text
                assert refused.headers["retry-after"]
                assert ("<html" in refused.text) is not htmx
                assert "correct horse" not in refused.text
            shown = await customer.get(f"/s/{secret_id}")
            assert shown.status_code == 503
            create = await staff.post(
                "/secrets",
                data={"content": "during", "recipient_email": CUSTOMER, "max_views": "1"},
                headers=csrf_headers(staff),
            )
            assert create.status_code == 503
        finally:
            await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
            await admin.close()

        # Back without a restart: the pool reconnects; the secret opens exactly once.
        opened = await reveal(customer, secret_id, key)
        assert opened.status_code == 200
        assert "correct horse battery staple" in opened.text
        assert (await reveal(customer, secret_id, key)).status_code == 404
        clock.advance(seconds=1)
        new_id, new_key = await create_secret(staff, recipient_email=CUSTOMER)
        assert (await reveal(customer, new_id, new_key)).status_code == 200
        revealed = await AuditEvent.count().where(
            (AuditEvent.action == "secret.revealed") & (AuditEvent.secret_id == secret_id)
        )
        assert revealed == 1
        row = await Secret.select(Secret.state, Secret.ciphertext).where(Secret.id == secret_id)
        assert row == [{"state": "opened", "ciphertext": None}]


@pytest.mark.redis
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sign_out_on_one_process_ends_the_session_on_every_process(
    make_settings: Callable[..., Settings],
    database_url: str,
    redis_url: str,
    issuer: str,
    clock: FrozenClock,
) -> None:
    # Each process keeps a memory copy of sessions for Redis outages; Redis must still win.
    settings = make_settings(database_url, redis_url=redis_url)
    async with (
        serving(settings, clock) as first,
        serving(settings, clock) as second,
        client_of(first) as on_first,
        client_of(second) as on_second,
    ):
        await sign_in(on_first, issuer, STAFF)
        for name, value in on_first.cookies.items():
            on_second.cookies.set(name, value)
        assert STAFF in (await on_second.get("/")).text  # now also in the second's memory
        await on_first.post("/auth/logout", headers=csrf_headers(on_first))
        assert STAFF not in answered(await on_first.get("/"), 200).text
        # The second process still holds a copy, but Redis says the session is gone.
        assert STAFF not in answered(await on_second.get("/"), 200).text
