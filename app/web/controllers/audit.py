"""The auditors' view of the whole trail: search, page through, export as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get
from litestar.params import Parameter
from litestar.response import Stream, Template

from app import crypto, i18n
from app.auth.identity import User
from app.i18n import _
from app.services import audit
from app.services.audit import AuditAction, ClientInfo, TrailEvent
from app.services.audit_search import EXPORT_BATCH, AuditFilter, export_audit, search_audit
from app.services.paging import Cursor
from app.web.guards import REQUIRES, SIGN_IN_NEXT, Access
from app.web.labels import KNOWN_ACTIONS
from app.web.responses import error_page, render

CSV_COLUMNS = (
    "at",
    "actor",
    "actor_kind",
    "action",
    "outcome",
    "secret_id",
    "invitation_id",
    "target",
    "reason",
    "client",
    "user_agent",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Query = Annotated[str | None, Parameter(query="from")]
ToQuery = Annotated[str | None, Parameter(query="to")]


def csv_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_lines(events: Iterable[TrailEvent]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for event in events:
        writer.writerow(
            [
                event.at.isoformat(),
                *(csv_cell(getattr(event, column)) for column in CSV_COLUMNS[1:]),
            ]
        )
    return buffer.getvalue()


def _day_start(text: str, zone: ZoneInfo, days_later: int = 0) -> datetime:
    day = date.fromisoformat(text)
    if not 1970 <= day.year <= 9000:  # far-off years would overflow once moved to UTC
        raise ValueError(text)
    start = datetime.combine(day + timedelta(days=days_later), time(0), tzinfo=zone)
    return start.astimezone(UTC)


def parse_filter(
    *,
    actor: str | None,
    action: str | None,
    secret: str | None,
    start: str | None,
    end: str | None,
) -> tuple[AuditFilter, dict[str, str]]:
    """The query string as a filter plus what was typed; dates are days in the viewer's zone."""
    typed = {
        "actor": (actor or "").strip()[:320],
        "action": (action or "").strip()[:41],
        "secret": (secret or "").strip()[:40],
        "from": (start or "").strip()[:10],
        "to": (end or "").strip()[:10],
    }
    errors: dict[str, str] = {}
    zone = ZoneInfo(i18n.current_timezone.get())
    if not typed["actor"].isprintable():
        # NUL, escapes, bidi overrides: no address holds them, and the database refuses NUL.
        errors["actor"] = _("Enter a person as plain text, without control characters.")
    if typed["action"] and typed["action"] not in KNOWN_ACTIONS:
        errors["action"] = _("Choose an action from the list.")
    if typed["secret"] and not crypto.plausible_id(typed["secret"]):
        errors["secret"] = _("A secret's id has only letters, digits, - and _.")
    day_from = day_to = None
    try:
        day_from = _day_start(typed["from"], zone) if typed["from"] else None
    except ValueError:
        errors["from"] = _("Enter a date like 2026-01-31.")
    try:
        # The end day is included: the filter stops at the start of the next day.
        day_to = _day_start(typed["to"], zone, days_later=1) if typed["to"] else None
    except ValueError:
        errors["to"] = _("Enter a date like 2026-01-31.")
    if day_from and day_to and day_to <= day_from:
        errors["to"] = _("The end date must not be before the start date.")
    search = AuditFilter(
        actor=typed["actor"].lower(),
        action=typed["action"],
        secret_id=typed["secret"],
        start=day_from,
        end=day_to,
    )
    return replace(search, errors=errors), typed


def query_string(typed: dict[str, str]) -> str:
    return urlencode({name: value for name, value in typed.items() if value})


class AuditController(Controller):
    """A page link this app did not make (BadCursor) answers app.web.errors' page."""

    opt: Mapping[str, Any] = {REQUIRES: Access.AUDITOR, SIGN_IN_NEXT: "/audit"}

    @get("/audit")
    async def search(
        self,
        request: Request[Any, Any, Any],
        now: datetime,
        actor: str | None = None,
        action: str | None = None,
        secret: str | None = None,
        start: Query = None,
        end: ToQuery = None,
        after: str | None = None,
    ) -> Template:
        search, typed = parse_filter(
            actor=actor, action=action, secret=secret, start=start, end=end
        )
        context: dict[str, Any] = {
            "typed": typed,
            "errors": search.errors,
            "actions": KNOWN_ACTIONS,
            "query": query_string(typed),
            "now": now,
            "first_page": not after,
        }
        if search.errors:
            return render(request, "audit.html", status_code=400, listing=None, **context)
        page = await search_audit(search, Cursor.decode(after) if after else None)
        return render(request, "audit.html", listing=page, **context)

    @get("/audit.csv")
    async def export(
        self,
        request: Request[Any, Any, Any],
        user: User,
        now: datetime,
        client: ClientInfo,
        actor: str | None = None,
        action: str | None = None,
        secret: str | None = None,
        start: Query = None,
        end: ToQuery = None,
    ) -> Template | Stream:
        search, typed = parse_filter(
            actor=actor, action=action, secret=secret, start=start, end=end
        )
        if search.errors:
            return error_page(request, 400, _("Bad request"), " ".join(search.errors.values()))
        # The first batch is read before anything is sent or recorded: if it fails, the
        # answer is a proper error page, and no export is on the trail that never happened.
        first_page = await search_audit(search, None, EXPORT_BATCH)
        # Who took a copy of the trail, and of which part, is itself part of the trail.
        await audit.record(
            AuditAction.AUDIT_EXPORTED,
            at=now,
            actor=user.label,
            client=client,
            target=typed["actor"],
            reason=query_string(typed)[:60],
        )

        async def body() -> AsyncIterator[str]:
            yield csv_lines_header()
            batch: list[TrailEvent] = []
            async for event in export_audit(search, first_page):
                batch.append(event)
                if len(batch) >= EXPORT_BATCH:
                    yield csv_lines(batch)
                    batch = []
            yield csv_lines(batch)

        filename = f"safe-share-audit-{now:%Y%m%d-%H%M%S}.csv"
        return Stream(
            body(),
            media_type="text/csv",  # Litestar adds "; charset=utf-8" to text types
            headers={"content-disposition": f'attachment; filename="{filename}"'},
        )


def csv_lines_header() -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(CSV_COLUMNS)
    return buffer.getvalue()
