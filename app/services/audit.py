"""The audit trail: one row per sharing action, written in the same transaction as the action.

A row names who did what to which secret or invitation, and the outcome; never content, keys,
tokens or links. Client addresses are keyed hashes and user agents are truncated.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypedDict, Unpack

from piccolo.columns.defaults.base import Default
from piccolo.query.base import Query
from piccolo.querystring import QueryString
from piccolo.table import Table

from app.db.engine import is_postgres
from app.db.prepared import Prepared
from app.db.sqlite import OneWriterSQLiteEngine
from app.db.tables import AuditEvent


class ActorKind(StrEnum):
    USER = "user"
    GUEST = "guest"
    ANONYMOUS = "anonymous"
    SYSTEM = "system"


class AuditAction(StrEnum):
    """Every action the trail records; the values are the codes stored in the rows."""

    # S105 reads "secret" as a password; these are action codes.
    SECRET_CREATED = "secret.created"  # noqa: S105
    SECRET_REVEALED = "secret.revealed"  # noqa: S105
    SECRET_REFUSED = "secret.refused"  # noqa: S105
    SECRET_REVOKED = "secret.revoked"  # noqa: S105
    SECRET_EXPIRED = "secret.expired"  # noqa: S105
    SECRET_CREATE_REFUSED = "secret.create_refused"  # noqa: S105
    INVITATION_CREATED = "invitation.created"
    INVITATION_OPENED = "invitation.opened"
    INVITATION_USED = "invitation.used"
    INVITATION_REVOKED = "invitation.revoked"
    INVITATION_EXPIRED = "invitation.expired"
    INVITATION_CREATE_REFUSED = "invitation.create_refused"
    SIGNIN = "signin"
    AUDIT_EXPORTED = "audit.exported"


GUEST = ActorKind.GUEST
ANONYMOUS = ActorKind.ANONYMOUS
SYSTEM = ActorKind.SYSTEM


def _actor_columns(actor: str | ActorKind) -> dict[str, Any]:
    """A plain string is a signed-in person's label; only an ActorKind names anyone else. The
    kind column decides who acted; the actor text is only what people filter and read."""
    if isinstance(actor, ActorKind) and actor is not ActorKind.USER:
        return {"actor": actor.value, "actor_kind": actor.value}
    return {"actor": _printable(str(actor))[:320], "actor_kind": ActorKind.USER.value}


@dataclass(frozen=True)
class ClientInfo:
    client: str = ""  # keyed hash of the address
    user_agent: str = ""  # first 120 characters


def _printable(text: str) -> str:
    # Forged requests put anything here; PostgreSQL refuses NUL and logs want no control codes.
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in text)


class Details(TypedDict, total=False):
    """What a row may say besides what was done, when and by whom."""

    outcome: str  # "ok" unless given
    client: ClientInfo | None
    secret_id: str | None
    invitation_id: str | None
    target: str
    reason: str


def event_values(
    action: AuditAction, *, at: datetime, actor: str | ActorKind, **details: Unpack[Details]
) -> dict[str, Any]:
    """The audit row for an action as column values, not yet written: cleaned and cut as it is
    stored. (A dict, not an AuditEvent: building a Piccolo row costs more than the rest.)"""
    client = details.get("client") or ClientInfo()
    return {
        "at": at,
        **_actor_columns(actor),
        "action": action.value,
        "outcome": details.get("outcome", "ok"),
        "secret_id": details.get("secret_id"),
        "invitation_id": details.get("invitation_id"),
        "target": _printable(details.get("target", ""))[:320],
        "reason": _printable(details.get("reason", ""))[:60],
        "client": client.client[:16],
        "user_agent": client.user_agent[:120],
    }


def event(
    action: AuditAction, *, at: datetime, actor: str | ActorKind, **details: Unpack[Details]
) -> AuditEvent:
    """The audit row for an action, not yet written: cleaned and cut as it is stored."""
    return AuditEvent(**event_values(action, at=at, actor=actor, **details))


async def record(
    action: AuditAction, *, at: datetime, actor: str | ActorKind, **details: Unpack[Details]
) -> None:
    await AuditEvent.insert(event(action, at=at, actor=actor, **details))


async def record_once(
    action: AuditAction,
    *,
    within: timedelta,
    per_client: bool = False,
    at: datetime,
    actor: str | ActorKind,
    **details: Unpack[Details],
) -> None:
    """For an event anyone can repeat at will (reloading a page): one row per actor, secret or
    invitation and reason (and client, if asked) per period, so reloads cannot fill the trail.
    One indexed look-up first; a rare race writes two rows, never an unbounded number."""
    row = event(action, at=at, actor=actor, **details)
    # Compared as stored: the row holds the actor and reason cleaned and cut.
    seen: Any = (
        (AuditEvent.action == row.action)
        & (AuditEvent.actor == row.actor)
        & (AuditEvent.reason == row.reason)
        & (AuditEvent.at > at - within)
    )
    if row.secret_id is not None:
        seen &= AuditEvent.secret_id == row.secret_id
    if row.invitation_id is not None:
        seen &= AuditEvent.invitation_id == row.invitation_id
    if per_client:
        seen &= AuditEvent.client == row.client
    if not await AuditEvent.exists().where(seen):
        await AuditEvent.insert(row)


@dataclass(frozen=True)
class TrailEvent:
    """An audit row as the trail pages and the export read it."""

    id: int
    at: datetime
    actor: str
    actor_kind: str
    action: str
    outcome: str
    secret_id: str | None
    invitation_id: str | None
    target: str
    reason: str
    client: str
    user_agent: str


EVENT_COLUMNS = (
    AuditEvent.id,
    AuditEvent.at,
    AuditEvent.actor,
    AuditEvent.actor_kind,
    AuditEvent.action,
    AuditEvent.outcome,
    AuditEvent.secret_id,
    AuditEvent.invitation_id,
    AuditEvent.target,
    AuditEvent.reason,
    AuditEvent.client,
    AuditEvent.user_agent,
)


async def secret_events(secret_id: str) -> list[TrailEvent]:
    """One secret's history, oldest first."""
    rows = await (
        AuditEvent.select(*EVENT_COLUMNS)
        .where(AuditEvent.secret_id == secret_id)
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    return [TrailEvent(**row) for row in rows]


class ChangeWithEvent:
    """A change and its audit row, both or neither, as one statement written once.

    `build(**values)` makes the change: an insert, or a conditional update with
    `.returning(...)`. When its condition no longer holds (another request got there first),
    nothing is written, the audit row included; `run` says whether the change touched a row.
    On PostgreSQL it is one statement (one round trip instead of four: BEGIN, the change, the
    audit insert, COMMIT), the change as a CTE and the audit row inserted once per row it
    returned. On SQLite it is a transaction of the two statements, run in one trip to the
    writer's thread. Either way the SQL is compiled on first use."""

    def __init__(self, build: Callable[..., Query[Any, Any]], names: tuple[str, ...]) -> None:
        def statement(**slots: Any) -> QueryString:
            [write] = build(**{name: slots[name] for name in names}).querystrings
            event = QueryString(_INSERT_PER_CHANGED_ROW, *(slots[slot] for slot in _EVENT_SLOTS))
            return QueryString("WITH changed AS ({}) {}", write, event)

        self.statement = Prepared(statement, names + _EVENT_SLOTS)
        self.change = Prepared(build, names)

    async def run(self, audit_values: Mapping[str, Any], **values: Any) -> bool:
        """`audit_values` as `event_values` gives them."""
        engine = AuditEvent._meta.db
        event = {slot: audit_values[name] for slot, name in _EVENT_SLOT_NAMES}
        if is_postgres(engine):
            return bool(await self.statement.run(engine, **values, **event))
        if not isinstance(engine, OneWriterSQLiteEngine):
            raise TypeError(f"no way to write a change and its audit row on {engine.engine_type}")
        change = self.change.bind(engine.engine_type, **values)
        insert_event = _INSERT_EVENT.bind(engine.engine_type, **event)

        def change_then_event(connection: sqlite3.Connection) -> bool:
            if not connection.execute(*change).fetchall():
                return False  # the condition no longer held: no change, no audit row
            connection.execute(*insert_event)
            return True

        return await engine.write(change_then_event)


async def insert_with_event(
    table: type[Table], row: Mapping[str, Any], audit_values: Mapping[str, Any]
) -> None:
    """A new row (column values; columns left out take their defaults) and its audit row,
    both or neither."""
    insert = _INSERTS.get(table)
    if insert is None:
        names = tuple(column._meta.name for column in table._meta.columns)
        insert = _INSERTS[table] = ChangeWithEvent(
            lambda **values: table.insert(table(**values)), names
        )
    await insert.run(audit_values, **row_values(table, row))


def row_values(table: type[Table], given: Mapping[str, Any]) -> dict[str, Any]:
    """Every column's value for a new row: the given ones, else the column's default, which
    must then be a constant or a serial's (a timestamp's "now" has to be given: the
    app's clock decides)."""
    known = _NEW_ROWS.get(table)
    if known is None:
        columns = table._meta.columns
        known = _NEW_ROWS[table] = (
            frozenset(column._meta.name for column in columns),
            {
                column._meta.name: column.get_default_value()
                for column in columns
                if not isinstance(column.default, Default)  # Default: "now", a new UUID, …
            },
        )
    names, defaults = known
    values = {**defaults, **given}
    if len(values) != len(names) or not names.issuperset(given):
        missing, unknown = sorted(names - values.keys()), sorted(given.keys() - names)
        raise TypeError(f"{table.__name__}: no value for {missing}, unknown {unknown}")
    return values


# Per table, once: its column names and the constant defaults of a new row.
_NEW_ROWS: dict[type[Table], tuple[frozenset[str], dict[str, Any]]] = {}
_INSERTS: dict[type[Table], ChangeWithEvent] = {}
_EVENT_COLUMNS = [column for column in AuditEvent._meta.columns if not column._meta.primary_key]
_EVENT_SLOTS = tuple(f"event_{column._meta.name}" for column in _EVENT_COLUMNS)
_EVENT_SLOT_NAMES = tuple(zip(_EVENT_SLOTS, (c._meta.name for c in _EVENT_COLUMNS), strict=True))
# Typed placeholders: in INSERT … SELECT, PostgreSQL would otherwise read each value as text.
_INSERT_PER_CHANGED_ROW = (  # names from the table definition, values bound as parameters
    f'INSERT INTO "{AuditEvent._meta.tablename}" ('  # noqa: S608
    + ", ".join(f'"{column._meta.db_column_name}"' for column in _EVENT_COLUMNS)
    + ") SELECT "
    + ", ".join(f"{{}}::{column.column_type.split('(')[0]}" for column in _EVENT_COLUMNS)
    + " FROM changed RETURNING 1"
)
# The audit row alone, where the change is a statement of its own (SQLite).
_INSERT_EVENT = Prepared(
    lambda **slots: QueryString(
        f'INSERT INTO "{AuditEvent._meta.tablename}" ('  # noqa: S608 - names from the table
        + ", ".join(f'"{column._meta.db_column_name}"' for column in _EVENT_COLUMNS)
        + ") VALUES ("
        + ", ".join("{}" for _ in _EVENT_COLUMNS)
        + ")",
        *(slots[slot] for slot in _EVENT_SLOTS),
    ),
    _EVENT_SLOTS,
)
