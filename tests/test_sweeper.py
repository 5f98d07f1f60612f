"""The expiry sweep: in-process on both databases, and as the arq job against real Redis."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker
from piccolo.engine.base import Engine

from app.auth.rules import Recipient
from app.db.tables import AuditEvent, Invitation, Secret
from app.services import secrets
from app.services.audit import ClientInfo
from app.services.sweeper import sweep
from app.settings import PROJECT_ROOT, load_settings
from app.worker import WorkerSettings, sweep_job
from tests.support.people import STAFF_USER

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


async def _make(now: datetime, hours: float, n: int = 1) -> list[str]:
    ids = []
    for _ in range(n):
        created = await secrets.create_secret(
            content="x",
            recipient=Recipient(email="bob@example.com"),
            creator=STAFF_USER,
            expires_in=timedelta(hours=hours),
            max_views=1,
            now=now,
            client=ClientInfo(),
        )
        ids.append(created.id)
    return ids


async def test_sweep_deletes_expired_content_and_keeps_a_tombstone(engine: Engine[Any]) -> None:
    now = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    expired = await _make(now - timedelta(hours=2), 1)
    waiting = await _make(now, 1)
    result = await sweep(now, timedelta(days=365))
    assert result.secrets_expired == 1
    rows = {r["id"]: r for r in await Secret.select()}
    assert rows[expired[0]]["state"] == "expired"
    assert rows[expired[0]]["ciphertext"] is None
    assert rows[waiting[0]]["state"] == "waiting"
    assert rows[waiting[0]]["ciphertext"] is not None
    events = await AuditEvent.select(AuditEvent.action, AuditEvent.secret_id).where(
        AuditEvent.action == "secret.expired"
    )
    assert events == [{"action": "secret.expired", "secret_id": expired[0]}]
    # idempotent: a second sweep changes and audits nothing more
    again = await sweep(now, timedelta(days=365))
    assert again.secrets_expired == 0
    assert await AuditEvent.count().where(AuditEvent.action == "secret.expired") == 1


async def test_sweep_prunes_audit_rows_past_retention(engine: Engine[Any]) -> None:
    await _make(LONG_AGO, 1)
    now = datetime(2026, 2, 1, tzinfo=UTC)
    result = await sweep(now, timedelta(days=365))
    assert result.audit_rows_pruned == 1  # the old "created" row
    assert await AuditEvent.count().where(AuditEvent.at < now - timedelta(days=365)) == 0


@pytest.mark.redis
async def test_arq_worker_runs_the_sweep_against_real_redis(
    engine: Engine[Any], redis_url: str, database_url: str
) -> None:
    expired = await _make(datetime.now(UTC) - timedelta(days=2), 1, n=3)
    redis_settings = RedisSettings.from_dsn(redis_url)
    pool = await create_pool(redis_settings)
    queue = f"safe-share-test-{id(engine)}"
    await pool.enqueue_job("sweep_job", _queue_name=queue)
    worker = Worker(
        functions=[sweep_job],
        redis_settings=redis_settings,
        burst=True,
        queue_name=queue,
        on_startup=WorkerSettings.on_startup,
        on_shutdown=WorkerSettings.on_shutdown,
        ctx={
            "settings": load_settings(
                {"SAFE_SHARE_DATABASE_URL": database_url, "SAFE_SHARE_SECRET_KEY": "k" * 32}
            )
        },
        handle_signals=False,
        poll_delay=0.05,
    )
    try:
        await worker.main()
    finally:
        await worker.close()
        await pool.aclose()
    assert worker.jobs_complete == 1
    assert worker.jobs_failed == 0
    # the worker's engine replaced ours on the tables; bind ours back for the check
    from app.db.engine import bind_engine

    bind_engine(engine)
    states = {r["state"] for r in await Secret.select(Secret.state).where(Secret.id.is_in(expired))}
    assert states == {"expired"}


async def test_two_concurrent_sweeps_expire_each_secret_once(engine: Engine[Any]) -> None:
    now = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    rows = [
        Secret(
            id=f"bulk{i:06d}",
            state="waiting",
            nonce=b"n",
            ciphertext=b"c",
            creator_email="alice@prowise.com",
            creator_role="staff",
            recipient_email="bob@example.com",
            max_views=1,
            views_left=1,
            created_at=now - timedelta(days=2),
            expires_at=now - timedelta(days=1),
        )
        for i in range(1000)
    ]
    await Secret.insert(*rows)
    first, second = await asyncio.gather(
        sweep(now, timedelta(days=365)), sweep(now, timedelta(days=365))
    )
    assert first.secrets_expired + second.secrets_expired == 1000
    assert await AuditEvent.count().where(AuditEvent.action == "secret.expired") == 1000
    assert await Secret.count().where(Secret.ciphertext.is_not_null()) == 0


async def test_sweep_expires_open_invitations(engine: Engine[Any]) -> None:
    now = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    await Invitation.insert(
        Invitation(
            id="inv1",
            token_hash="h" * 64,
            creator_email="alice@prowise.com",
            label="",
            state="open",
            created_at=now - timedelta(days=2),
            expires_at=now - timedelta(days=1),
        )
    )
    result = await sweep(now, timedelta(days=365))
    assert result.invitations_expired == 1
    assert (await Invitation.select(Invitation.state).first()) == {"state": "expired"}


@pytest.mark.redis
async def test_two_real_worker_processes_expire_and_audit_each_secret_exactly_once(
    engine: Engine[Any], redis_url: str, database_url: str
) -> None:
    """Two `python -m app.worker --burst` processes sweep the same 1,000 rows at the same moment."""
    now = datetime.now(UTC)
    ids = [f"race{i:06d}" for i in range(1000)]
    await Secret.insert(
        *(
            Secret(
                id=secret_id,
                state="waiting",
                nonce=b"n",
                ciphertext=b"c",
                creator_email="alice@prowise.com",
                creator_role="staff",
                recipient_email="bob@example.com",
                max_views=1,
                views_left=1,
                created_at=now - timedelta(days=2),
                expires_at=now - timedelta(days=1),
            )
            for secret_id in ids
        )
    )
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    queues = [f"safe-share-test-{uuid.uuid4().hex}" for _ in range(2)]
    # One job per worker, both due at the same instant, so the two sweeps really overlap.
    for queue in queues:
        await pool.enqueue_job("sweep_job", _queue_name=queue, _defer_by=timedelta(seconds=4))
    await pool.aclose()
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "SAFE_SHARE_DATABASE_URL": database_url,
        "SAFE_SHARE_REDIS_URL": redis_url,
        "SAFE_SHARE_SECRET_KEY": "k" * 32,
        "SAFE_SHARE_ENV": "development",
    }
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.worker",
            "--burst",
            "--queue",
            queue,
            env=env,
            cwd=PROJECT_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for queue in queues
    ]
    outputs = await asyncio.wait_for(
        asyncio.gather(*(worker.communicate() for worker in workers)), timeout=120
    )
    logs = [out.decode() for out, _err in outputs]
    assert [worker.returncode for worker in workers] == [0, 0], logs
    # Each worker logs a one-line summary per run; together they expired each secret once.
    per_worker = [
        [int(n) for n in re.findall(r"sweep: (\d+) secrets expired", log)] for log in logs
    ]
    print("expired per worker:", per_worker)
    assert all(counts for counts in per_worker), logs
    assert sum(sum(counts) for counts in per_worker) == 1000, logs

    states = await Secret.select(Secret.state, Secret.ciphertext).where(Secret.id.is_in(ids))
    assert {(row["state"], row["ciphertext"]) for row in states} == {("expired", None)}
    audited = Counter(
        row["secret_id"]
        for row in await AuditEvent.select(AuditEvent.secret_id).where(
            AuditEvent.action == "secret.expired"
        )
    )
    assert set(audited) == set(ids)
    assert set(audited.values()) == {1}
