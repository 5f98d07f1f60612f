"""PostgreSQL's connection pool: a connection goes back without a reset round trip, and never
with an unfinished transaction."""

from __future__ import annotations

from typing import Any

import pytest

from app.db.engine import create_engine, start, stop


@pytest.mark.postgres
async def test_a_connection_returns_to_the_pool_without_a_reset_query(postgres_url: str) -> None:
    engine: Any = create_engine(postgres_url)
    await start(engine)
    try:
        sent: list[str] = []
        async with engine.pool.acquire() as connection:
            connection.add_query_logger(lambda record: sent.append(record.query))
            await connection.fetchval("SELECT 1")
        # asyncpg's default reset (advisory unlocks, CLOSE ALL, UNLISTEN, RESET ALL) is not sent.
        assert sent == ["SELECT 1"]
    finally:
        await stop(engine)


@pytest.mark.postgres
async def test_an_interrupted_transaction_is_rolled_back_before_reuse(postgres_url: str) -> None:
    engine: Any = create_engine(postgres_url)
    await start(engine)
    try:
        async with engine.pool.acquire() as connection:
            await connection.execute("BEGIN")
            await connection.execute("CREATE TEMPORARY TABLE left_behind (x int)")
            raw = connection._con
        async with engine.pool.acquire() as connection:
            assert connection._con is raw  # the pool keeps one idle connection: the same one
            assert not connection.is_in_transaction()
            missing = "SELECT to_regclass('pg_temp.left_behind') IS NULL"
            assert await connection.fetchval(missing)
    finally:
        await stop(engine)
