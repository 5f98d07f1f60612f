"""The auditors' view of the whole trail: filter, page through, export in batches.

Read-only: nothing here writes a row (app.services.audit does), and audit rows hold no content,
keys or links to begin with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.db.tables import AuditEvent
from app.services.audit import EVENT_COLUMNS, TrailEvent
from app.services.paging import BadCursor, Cursor, Page, page_of, utc

AUDIT_PAGE_SIZE = 50
EXPORT_BATCH = 1000


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    secret_id: str = ""
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive
    errors: dict[str, str] = field(default_factory=dict, compare=False)

    def where(self) -> Any:
        where: Any = AuditEvent.id > 0
        if self.actor:
            where &= AuditEvent.actor == self.actor
        if self.action:
            where &= AuditEvent.action == self.action
        if self.secret_id:
            where &= AuditEvent.secret_id == self.secret_id
        if self.start is not None:
            where &= AuditEvent.at >= utc(self.start)
        if self.end is not None:
            where &= AuditEvent.at < utc(self.end)
        return where


async def search_audit(
    search: AuditFilter, after: Cursor | None = None, page_size: int = AUDIT_PAGE_SIZE
) -> Page[TrailEvent]:
    """Newest first, one query per page."""
    where = search.where()
    if after is not None:
        if not after.id.isdigit() or len(after.id) > 18:  # a BIGINT id
            raise BadCursor(after.id)
        where &= after.before("at", int(after.id))
    rows = await (
        AuditEvent.select(*EVENT_COLUMNS)
        .where(where)
        .order_by(AuditEvent.at, AuditEvent.id, ascending=False)
        .limit(page_size + 1)
    )
    events = [TrailEvent(**row) for row in rows]
    return page_of(events, page_size, lambda last: Cursor(last.at, str(last.id)))


async def export_audit(
    search: AuditFilter, first_page: Page[TrailEvent] | None = None
) -> AsyncIterator[TrailEvent]:
    """Every matching row, fetched in batches so memory stays flat however large the trail;
    `first_page` is the first batch when the caller fetched it already."""
    page = first_page or await search_audit(search, None, EXPORT_BATCH)
    while True:
        for event in page.rows:
            yield event
        if page.next_cursor is None:
            return
        page = await search_audit(search, Cursor.decode(page.next_cursor), EXPORT_BATCH)
