"""Database engine: built from the database URL, bound to the tables, migrated on demand; and
which of its errors mean an outage rather than a bug."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import TransactionType
from piccolo.table import Table

from app.db.sqlite import OneWriterSQLiteEngine
from app.db.tables import TABLES, Secret


def create_engine(database_url: str) -> Engine[Any]:
    if database_url.startswith("sqlite:///"):
        return OneWriterSQLiteEngine(path=database_url.removeprefix("sqlite:///"))
    parts = urlsplit(database_url)
    if not parts.path.strip("/"):
        raise ValueError("the PostgreSQL URL must name a database")
    return PostgresEngine(config={"dsn": database_url}, log_queries=False)


def is_postgres(engine: Engine[Any]) -> bool:
    return engine.engine_type == "postgres"


def is_outage(exc: BaseException) -> bool:
    """The database (or another service) is unreachable: a 503 to retry, not a 500 to debug."""
    if isinstance(exc, OSError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        return "locked" in str(exc) or "unable to open" in str(exc)
    return isinstance(
        exc,
        asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.InternalClientError  # a connection cut mid-query
        | asyncpg.exceptions.OperatorInterventionError
        | asyncpg.exceptions.ObjectNotInPrerequisiteStateError
        | asyncpg.exceptions.InsufficientResourcesError,
    )


def is_unstorable_input(exc: BaseException) -> bool:
    """Input the database cannot hold (a NUL byte, say) that validation let through: still the
    client's input, so a 400; the transaction was rolled back."""
    return isinstance(exc, asyncpg.DataError)


def bind_engine(engine: Engine[Any]) -> None:
    """Point every table (and Piccolo's own migration machinery) at this engine."""
    from piccolo.apps.migrations.tables import Migration

    from app.db import piccolo_conf

    piccolo_conf.DB = engine
    tables: list[type[Table]] = [*TABLES, Migration]
    for table in tables:
        table._meta.db = engine


async def release_connection(connection: Any) -> None:
    """What a connection needs before it goes back to the pool. asyncpg's default sends a reset
    query (advisory unlocks, CLOSE ALL, UNLISTEN, RESET ALL): a round trip after every query,
    for session state this app never sets. An interrupted transaction is still rolled back."""
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


async def start(engine: Engine[Any]) -> None:
    bind_engine(engine)
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=10, reset=release_connection)


async def stop(engine: Engine[Any], grace_seconds: float = 2) -> None:
    if isinstance(engine, OneWriterSQLiteEngine):
        await engine.close_connections()
    if isinstance(engine, PostgresEngine) and engine.pool is not None:
        try:
            # close() waits for every borrowed connection; one lost in an outage would hang
            # shut-down forever, so after a grace period the pool is torn down instead.
            await asyncio.wait_for(engine.pool.close(), timeout=grace_seconds)
        except TimeoutError:
            engine.pool.terminate()
        engine.pool = None


async def migrate(engine: Engine[Any]) -> None:
    """Apply every migration in migrations/ that has not run yet."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    # Piccolo's migration runner finds its engine through this module (see piccolo_conf.DB).
    os.environ.setdefault("PICCOLO_CONF", "app.db.piccolo_conf")
    bind_engine(engine)
    result = await run_forwards(app_name="all")
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message}")


@asynccontextmanager
async def write_transaction() -> AsyncIterator[bool]:
    """A transaction for read-then-write work; yields whether rows can be locked (PostgreSQL).

    SQLite has no row locks: an IMMEDIATE transaction takes the write lock up front instead,
    which serialises writers just as well for a single file.
    """
    engine = Secret._meta.db
    if is_postgres(engine):
        async with engine.transaction():
            yield True
    else:
        async with engine.transaction(transaction_type=TransactionType.immediate):
            yield False
