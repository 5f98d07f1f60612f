"""The CSV export checks its filters before it starts streaming (a clear 400, as /audit gives),
records `audit.exported` only for an export that starts, and says its charset once."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from app.db.tables import AuditEvent
from tests.support.flows import signed_in_auditor
from tests.support.people import AUDITOR


@pytest.mark.parametrize("actor", ["bob\x00@example.com", "bob\x1b[2J@example.com", "a\u202eb"])
async def test_audit_filters_with_control_characters_are_refused_before_any_export(
    new_client: Callable[[], httpx.AsyncClient], issuer: str, actor: str
) -> None:
    auditor = await signed_in_auditor(new_client, issuer)
    for path in ("/audit", "/audit.csv"):
        answer = await auditor.get(path, params={"actor": actor})
        assert answer.status_code == 400, path
        assert "csv" not in answer.headers["content-type"]
        assert "person" in answer.text.lower()
    assert await AuditEvent.count().where(AuditEvent.action == "audit.exported") == 0


async def test_an_export_that_starts_is_recorded_once_with_one_charset(
    new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    auditor = await signed_in_auditor(new_client, issuer)
    answer = await auditor.get("/audit.csv", params={"actor": AUDITOR})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.text.startswith("at,actor,actor_kind,action")
    exported = await AuditEvent.select(AuditEvent.actor, AuditEvent.target).where(
        AuditEvent.action == "audit.exported"
    )
    assert exported == [{"actor": AUDITOR, "target": AUDITOR}]
