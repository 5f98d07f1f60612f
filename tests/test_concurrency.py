"""Concurrent reveals and writes against real PostgreSQL and SQLite never yield more views than
allowed, and SQLite's writers queue for one connection instead of racing for the file lock."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from piccolo.engine.base import Engine

from app import crypto
from app.auth.rules import Recipient
from app.db.engine import write_transaction
from app.db.tables import AuditEvent, Secret
from app.services import secrets
from app.services.audit import ClientInfo
from tests.support.people import CUSTOMER_USER, STAFF_USER

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _race(views: int, attempts: int = 50) -> tuple[int, int]:
    created = await secrets.create_secret(
        content="race me",
        recipient=Recipient(email=CUSTOMER_USER.email),
        creator=STAFF_USER,
        expires_in=timedelta(hours=1),
        max_views=views,
        now=NOW,
        client=ClientInfo(),
    )

    async def attempt() -> bool:
        try:
            await secrets.reveal_secret(
                secret_id=created.id,
                opener=secrets.ByLinkKey(crypto.decode_key(created.key or "")),
                viewer=CUSTOMER_USER,
                now=NOW,
                client=ClientInfo(),
            )
        except secrets.SecretUnavailable:
            return False
        return True

    results = await asyncio.gather(*(attempt() for _ in range(attempts)))
    revealed_events = await AuditEvent.count().where(
        (AuditEvent.action == "secret.revealed") & (AuditEvent.secret_id == created.id)
    )
    return sum(results), revealed_events


@pytest.mark.postgres
async def test_one_view_secret_is_revealed_exactly_once_under_50_concurrent_reveals(
    pg_engine: Engine[Any],
) -> None:
    assert await _race(views=1) == (1, 1)


@pytest.mark.postgres
async def test_three_view_secret_is_revealed_exactly_three_times_under_50_concurrent_reveals(
    pg_engine: Engine[Any],
) -> None:
    assert await _race(views=3) == (3, 3)
    row = await Secret.select(Secret.ciphertext, Secret.state).first()
    assert row == {"ciphertext": None, "state": "opened"}


async def test_one_view_secret_is_revealed_exactly_once_under_50_concurrent_reveals_on_sqlite(
    sqlite_engine: Engine[Any],
) -> None:
    assert await _race(views=1) == (1, 1)


async def test_sqlite_writes_in_wal_mode_so_readers_never_wait_for_the_writer(
    sqlite_engine: Engine[Any],
) -> None:
    rows = await sqlite_engine._run_in_new_connection("PRAGMA journal_mode")  # type: ignore[attr-defined]
    assert rows == [{"journal_mode": "wal"}]


async def test_concurrent_writes_on_sqlite_queue_for_one_writer_and_all_succeed(
    sqlite_engine: Engine[Any],
) -> None:
    # 16 users creating at once: none waits in SQLite's busy handler, none fails.
    async def create(index: int) -> str:
        created = await secrets.create_secret(
            content=f"secret {index}",
            recipient=Recipient(email=CUSTOMER_USER.email),
            creator=STAFF_USER,
            expires_in=timedelta(hours=1),
            max_views=1,
            now=NOW,
            client=ClientInfo(),
        )
        return created.id

    ids = await asyncio.gather(*(create(i) for i in range(16)))
    assert len(set(ids)) == 16
    assert await Secret.count() == 16
    assert await AuditEvent.count().where(AuditEvent.action == "secret.created") == 16


async def test_a_failed_write_on_sqlite_leaves_the_shared_writer_usable(
    sqlite_engine: Engine[Any],
) -> None:
    await AuditEvent.insert(AuditEvent(at=NOW, actor="a", action="secret.created", outcome="ok"))
    [row] = await AuditEvent.select(AuditEvent.id)
    duplicate = AuditEvent(id=row["id"], at=NOW, actor="b", action="secret.created", outcome="ok")
    with pytest.raises(sqlite3.IntegrityError):
        await AuditEvent.insert(duplicate)

    async def fails_after_writing() -> None:
        async with write_transaction():
            await AuditEvent.insert(AuditEvent(at=NOW, actor="c", action="x", outcome="ok"))
            raise RuntimeError("the handler failed after writing")

    with pytest.raises(RuntimeError):
        await fails_after_writing()
    # Neither left the writer inside a transaction: the next writes go through, nothing else.
    await AuditEvent.insert(AuditEvent(at=NOW, actor="d", action="secret.created", outcome="ok"))
    actors = await AuditEvent.select(AuditEvent.actor).order_by(AuditEvent.id)
    assert [a["actor"] for a in actors] == ["a", "d"]
