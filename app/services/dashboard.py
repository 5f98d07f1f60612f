"""Read-only views for owners and auditors: my secrets, one secret's trail, the audit search.

Each page is one query, paginated by keyset on (time, id), so a page costs the same whether a
person has ten rows or ten thousand. Nothing here reads content or keys: the tombstone columns
and the audit rows are all there is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from piccolo.columns.combination import WhereRaw

from app import crypto
from app.auth.identity import User
from app.auth.rules import Recipient
from app.db.tables import GUEST_ROLE, AuditEvent, Secret, SecretState

PAGE_SIZE = 25
AUDIT_PAGE_SIZE = 50
EXPORT_BATCH = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadCursor(ValueError):
    """A page link that this app did not make."""


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: the (time, id) of the last row shown."""

    at: datetime
    id: str

    def encode(self) -> str:
        return f"{(self.at - _EPOCH) // timedelta(microseconds=1)}.{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        micros, _dot, row_id = text.partition(".")
        if not micros.isdigit() or len(micros) > 18 or not crypto.plausible_id(row_id):
            raise BadCursor(text[:40])
        try:
            return cls(_EPOCH + timedelta(microseconds=int(micros)), row_id)
        except OverflowError:  # past the year 9999
            raise BadCursor(text[:40]) from None


@dataclass(frozen=True)
class OwnedSecret:
    """One row of "My secrets": the tombstone columns only."""

    id: str
    stored_state: SecretState
    recipient: Recipient
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    views_left: int
    max_views: int
    opened_at: datetime | None
    opened_by: str | None
    file_size: int | None = None  # shown as "file, 2.3 MB"; the name is encrypted
    has_passphrase: bool = False  # that it has one; the passphrase itself is never stored
    encrypted_in_browser: bool = False
    label: str = ""  # the creator's private note: this view is the creator's own

    def state(self, now: datetime) -> SecretState:
        # Expiry counts from the moment it passes, whether or not the sweeper has run yet.
        if self.stored_state is SecretState.WAITING and self.expires_at <= now:
            return SecretState.EXPIRED
        return self.stored_state

    def ended_at(self) -> datetime:
        return self.closed_at or self.expires_at


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    next_cursor: str | None


_OWNED_COLUMNS = (
    Secret.id,
    Secret.state,
    Secret.recipient_email,
    Secret.recipient_group,
    Secret.created_at,
    Secret.expires_at,
    Secret.closed_at,
    Secret.views_left,
    Secret.max_views,
    Secret.opened_at,
    Secret.opened_by,
    Secret.file_size,
    Secret.kdf_salt,
    Secret.encrypted_by,
    Secret.label,
)


def _owned(row: dict[str, Any]) -> OwnedSecret:
    return OwnedSecret(
        id=row["id"],
        stored_state=SecretState(row["state"]),
        recipient=Recipient(email=row["recipient_email"], group=row["recipient_group"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        closed_at=row["closed_at"],
        views_left=row["views_left"],
        max_views=row["max_views"],
        opened_at=row["opened_at"],
        opened_by=row["opened_by"],
        file_size=row["file_size"],
        has_passphrase=row["kdf_salt"] is not None,
        encrypted_in_browser=row["encrypted_by"] == "browser",
        label=row["label"] or "",
    )


def _utc(moment: datetime) -> datetime:
    # SQLite compares stored text, so every parameter must be in the zone rows are stored in.
    return moment.astimezone(UTC)


async def list_my_secrets(
    user: User, after: Cursor | None = None, page_size: int = PAGE_SIZE
) -> Page[OwnedSecret]:
    """Newest first; one query (served by the index on creator_email, created_at, id)."""
    if user.email is None:
        return Page([], None)
    where: Any = (Secret.creator_email == user.email) & (Secret.creator_role != GUEST_ROLE)
    if after is not None:
        # A row-value comparison, so PostgreSQL and SQLite seek the index instead of filtering.
        where &= WhereRaw('("created_at", "id") < ({}, {})', _utc(after.at), after.id)
    rows = await (
        Secret.select(*_OWNED_COLUMNS)
        .where(where)
        .order_by(Secret.created_at, Secret.id, ascending=False)
        .limit(page_size + 1)  # one more than shown tells whether a next page exists
    )
    shown = [_owned(row) for row in rows[:page_size]]
    more = len(rows) > page_size and shown
    return Page(shown, Cursor(shown[-1].created_at, shown[-1].id).encode() if more else None)


async def find_my_secret(user: User, secret_id: str) -> OwnedSecret | None:
    if user.email is None or not crypto.plausible_id(secret_id):
        return None
    row = (
        await Secret.select(*_OWNED_COLUMNS)
        .where(
            (Secret.id == secret_id)
            & (Secret.creator_email == user.email)
            & (Secret.creator_role != GUEST_ROLE)
        )
        .first()
    )
    return _owned(row) if row else None


@dataclass(frozen=True)
class TrailEvent:
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


_EVENT_COLUMNS = (
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


def _event(row: dict[str, Any]) -> TrailEvent:
    return TrailEvent(**row)


async def secret_trail(user: User, secret_id: str) -> tuple[OwnedSecret, list[TrailEvent]] | None:
    """The creator's view of one secret's history; None for anyone else (as if unknown)."""
    secret = await find_my_secret(user, secret_id)
    if secret is None:
        return None
    rows = await (
        AuditEvent.select(*_EVENT_COLUMNS)
        .where(AuditEvent.secret_id == secret_id)
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    return secret, [_event(row) for row in rows]


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
            where &= AuditEvent.at >= _utc(self.start)
        if self.end is not None:
            where &= AuditEvent.at < _utc(self.end)
        return where


def _event_cursor_where(after: Cursor) -> Any:
    return WhereRaw('("at", "id") < ({}, {})', _utc(after.at), int(after.id))


async def search_audit(
    search: AuditFilter, after: Cursor | None = None, page_size: int = AUDIT_PAGE_SIZE
) -> Page[TrailEvent]:
    """Newest first, one query per page."""
    where = search.where()
    if after is not None:
        if not after.id.isdigit() or len(after.id) > 18:  # a BIGINT id
            raise BadCursor(after.id)
        where &= _event_cursor_where(after)
    rows = await (
        AuditEvent.select(*_EVENT_COLUMNS)
        .where(where)
        .order_by(AuditEvent.at, AuditEvent.id, ascending=False)
        .limit(page_size + 1)
    )
    shown = [_event(row) for row in rows[:page_size]]
    more = len(rows) > page_size and shown
    return Page(shown, Cursor(shown[-1].at, str(shown[-1].id)).encode() if more else None)


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
