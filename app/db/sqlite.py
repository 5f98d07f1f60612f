"""SQLite, the embedded default, tuned for a web server: WAL, a busy timeout, one writer.

Piccolo's SQLite engine opens a new connection (and thread) for every statement and lets
concurrent writers race for the file lock, retrying in the busy handler's growing sleeps; at
16 concurrent users that made a round trip's p99 seconds. Here every write of this process goes
through one long-lived writer connection, one transaction at a time, queued in order by an
asyncio lock, and reads use one long-lived reader connection, which WAL lets read while the
writer writes. Other processes on the same file (the worker, a second server) still meet at
SQLite's own lock, with the busy timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiosqlite
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory
from piccolo.querystring import QueryString

BUSY_TIMEOUT_SECONDS = 30

T = TypeVar("T")


@dataclass
class _Connections:
    """The connections and the writer's queue of one event loop."""

    reader: aiosqlite.Connection
    writer: aiosqlite.Connection
    write_lock: asyncio.Lock


async def _end_left_over_transaction(writer: aiosqlite.Connection) -> None:
    """Roll back what an interrupted writer left open, so the next one can begin."""
    if writer.in_transaction:
        await writer.rollback()


class OneWriterTransaction(SQLiteTransaction):
    """A transaction on the shared writer connection, holding the writer queue until it ends."""

    engine: OneWriterSQLiteEngine

    async def __aenter__(self) -> SQLiteTransaction:
        if self._parent is not None:
            return self._parent
        connections = await self.engine.connections()
        await connections.write_lock.acquire()
        try:
            self.connection = connections.writer
            await _end_left_over_transaction(connections.writer)
            await self.begin()  # type: ignore[no-untyped-call]
        except BaseException:
            connections.write_lock.release()
            raise
        self._write_lock = connections.write_lock
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        if self._parent:
            return exception is None
        try:
            if exception:
                if not self._rolled_back:
                    await self.rollback()  # type: ignore[no-untyped-call]
            elif not self._committed and not self._rolled_back:
                await self.commit()  # type: ignore[no-untyped-call]
        except BaseException:
            # A failed COMMIT must not leave the shared writer inside this transaction.
            await _end_left_over_transaction(self.connection)
            raise
        finally:
            # The connection stays open for the next writer.
            self.engine.current_transaction.reset(self.context)
            self._write_lock.release()
        return exception is None


class OneWriterSQLiteEngine(SQLiteEngine):
    def __init__(self, path: str) -> None:
        super().__init__(path=path, timeout=BUSY_TIMEOUT_SECONDS)
        self._by_loop: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Task[_Connections]]] = {}

    async def connections(self) -> _Connections:
        loop = asyncio.get_running_loop()
        entry = self._by_loop.get(id(loop))
        stale = entry is None or entry[0] is not loop
        if entry is not None and not stale and entry[1].done() and entry[1].exception():
            stale = True  # opening failed (a disk error?): try again next time
        if stale or entry is None:
            entry = (loop, loop.create_task(self._open()))
            self._by_loop[id(loop)] = entry
        # A task may be awaited by many; shielded, one caller's cancellation spares the others.
        return await asyncio.shield(entry[1])

    async def _open(self) -> _Connections:
        writer = await self.get_connection()
        # WAL lets readers read while one writer writes; the mode is kept in the file.
        await writer.execute("PRAGMA journal_mode = WAL")
        # Safe with WAL: a power cut may lose the last commits, never corrupt the file.
        await writer.execute("PRAGMA synchronous = NORMAL")
        reader = await self.get_connection()
        return _Connections(reader, writer, asyncio.Lock())

    async def close_connections(self) -> None:
        loop = asyncio.get_running_loop()
        entry = self._by_loop.pop(id(loop), None)
        if entry is None or entry[0] is not loop or not entry[1].done() or entry[1].exception():
            return
        connections = entry[1].result()
        await connections.reader.close()
        await connections.writer.close()

    async def get_connection(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(**self.connection_kwargs)
        connection.row_factory = dict_factory  # type: ignore[assignment]
        await connection.execute("PRAGMA foreign_keys = 1")
        await connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
        return connection

    def transaction(
        self,
        transaction_type: TransactionType = TransactionType.deferred,
        allow_nested: bool = True,
    ) -> SQLiteTransaction:
        # Every transaction here may write, so each takes the writer (BEGIN IMMEDIATE or not).
        return OneWriterTransaction(
            engine=self, transaction_type=transaction_type, allow_nested=allow_nested
        )

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` inside one transaction on the writer, in a single trip to the writer's thread.

        Each statement sent through aiosqlite is a hand-off to its thread and back, and under
        load each hand-back waits for the event loop's thread to let go of the GIL: a change and
        its audit row as BEGIN, two statements and COMMIT was four such waits. `work` runs on
        that thread and must only execute statements on the connection it is given.
        """
        if self.current_transaction.get() is not None:
            # The transaction holds the writer's queue: waiting for it here would never end.
            raise RuntimeError("write() inside a transaction on the same engine")
        connections = await self.connections()
        async with connections.write_lock:
            await _end_left_over_transaction(connections.writer)
            # aiosqlite runs a callable on the connection's own thread with _execute; its
            # public methods are each one statement.
            result: T = await connections.writer._execute(  # type: ignore[no-untyped-call]
                _in_one_transaction, connections.writer._conn, work
            )
            return result

    async def _run(self, query: str, args: list[Any], read: bool) -> list[dict[str, Any]]:
        transaction = self.current_transaction.get()
        if transaction is not None:
            return await self._fetch(transaction.connection, query, args)
        connections = await self.connections()
        if read:
            return await self._fetch(connections.reader, query, args)
        async with connections.write_lock:
            await _end_left_over_transaction(connections.writer)
            try:
                rows = await self._fetch(connections.writer, query, args)
                await connections.writer.commit()
            except BaseException:
                await _end_left_over_transaction(connections.writer)
                raise
            return rows

    @staticmethod
    async def _fetch(
        connection: aiosqlite.Connection, query: str, args: list[Any]
    ) -> list[dict[str, Any]]:
        # Run and read to the end in one call on the connection's thread: a statement left
        # open while another starts would keep the reader's snapshot old, and hide new rows.
        rows = await connection.execute_fetchall(query, args)
        return [dict(row) for row in rows]  # dict_factory made them dicts already

    async def run_querystring(
        self, querystring: QueryString, in_pool: bool = False
    ) -> list[dict[str, Any]]:
        query, args = querystring.compile_string(engine_type=self.engine_type)
        # Piccolo marks only inserts with a query type; a SELECT is known by its first word.
        read = query.lstrip()[:6].upper() == "SELECT"
        return await self._run(query, list(args), read)

    async def run_ddl(self, ddl: str, in_pool: bool = False) -> list[dict[str, Any]]:
        return await self._run(ddl, [], read=False)


def _in_one_transaction(
    connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]
) -> T:
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = work(connection)
        connection.commit()
    except BaseException:
        if connection.in_transaction:
            connection.rollback()
        raise
    return result
