"""A change and its audit row are written both or neither (app/services/audit.py), on each
engine: PostgreSQL's one statement and SQLite's one trip to the writer's thread."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from piccolo.engine.base import Engine

from app.db.engine import write_transaction
from app.db.tables import AuditEvent
from app.services import audit

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def marker_insert() -> audit.ChangeWithEvent:
    """The change: a row of its own (a marker in the audit table, the simplest table)."""
    return audit.ChangeWithEvent(
        lambda actor: AuditEvent.insert(
            AuditEvent(at=AT, actor=actor, action="marker", outcome="ok")
        ),
        ("actor",),
    )


def event(**overrides: Any) -> dict[str, Any]:
    row = audit.event_values(audit.AuditAction.SECRET_CREATED, at=AT, actor="alice@prowise.com")
    return {**row, **overrides}


async def actions() -> list[str]:
    rows = await AuditEvent.select(AuditEvent.action).order_by(AuditEvent.id)
    return [row["action"] for row in rows]


async def test_the_change_and_its_audit_row_are_written_together(engine: Engine[Any]) -> None:
    change = marker_insert()
    assert await change.run(event(), actor="first")
    assert await change.run(event(), actor="second")  # compiled once, bound again
    assert await actions() == ["marker", "secret.created"] * 2
    markers = await AuditEvent.select(AuditEvent.actor).where(AuditEvent.action == "marker")
    assert [row["actor"] for row in markers] == ["first", "second"]


async def test_a_failing_audit_row_takes_the_change_back_with_it(engine: Engine[Any]) -> None:
    with pytest.raises(Exception, match=r"(?i)null"):
        await marker_insert().run(event(action=None), actor="lost")
    assert await actions() == []
    # The writer is free again afterwards.
    assert await marker_insert().run(event(), actor="next")
    assert await actions() == ["marker", "secret.created"]


async def test_a_change_whose_condition_no_longer_holds_writes_no_audit_row(
    engine: Engine[Any],
) -> None:
    await AuditEvent.insert(AuditEvent(at=AT, actor="x", action="marker", outcome="ok"))
    stale = audit.ChangeWithEvent(
        lambda outcome: (
            AuditEvent.update({AuditEvent.outcome: outcome})
            .where(AuditEvent.outcome == "long gone")
            .returning(AuditEvent.id)
        ),
        ("outcome",),
    )
    assert not await stale.run(event(), outcome="changed")
    assert await actions() == ["marker"]


async def test_a_change_inside_an_open_transaction_is_refused_rather_than_waiting_forever(
    sqlite_engine: Engine[Any],
) -> None:
    # SQLite's change-with-event takes the one writer; inside a transaction, which already
    # holds it, it would wait for itself.
    with pytest.raises(RuntimeError, match="inside a transaction"):
        async with write_transaction():
            await marker_insert().run(event(), actor="nested")
    assert await actions() == []


def test_a_new_rows_values_take_constant_defaults_and_must_name_the_rest() -> None:
    """insert_with_event takes column values, not a Piccolo row: the defaults it fills in are
    the table's constants, and a column without one (a timestamp: the clock decides) or a
    name that is no column is an error before anything is written."""
    values = audit.row_values(AuditEvent, {"at": AT, "actor": "a", "action": "x", "outcome": "ok"})
    assert values == {
        "id": values["id"],  # the serial's own default: the database numbers the row
        "at": AT,
        "actor": "a",
        "actor_kind": "user",
        "action": "x",
        "outcome": "ok",
        "secret_id": None,
        "invitation_id": None,
        "target": "",
        "reason": "",
        "client": "",
        "user_agent": "",
    }
    with pytest.raises(TypeError, match="no value for"):
        audit.row_values(AuditEvent, {"actor": "a", "action": "x", "outcome": "ok"})
    with pytest.raises(TypeError, match="unknown"):
        audit.row_values(
            AuditEvent, {"at": AT, "actor": "a", "outcome": "ok", "action": "x", "nope": 1}
        )
    # The audit row's values cover every column the change-with-event statement writes.
    assert set(event()) == {c._meta.name for c in AuditEvent._meta.columns} - {"id"}
