"""The creator's own views: "My secrets" (paginated), one of them, and its trail.

Each page is one query (app.services.paging). Nothing here reads content or keys: the tombstone
columns and the audit rows are all there is.
"""

from __future__ import annotations

from typing import Any

from app import crypto
from app.auth.identity import User
from app.db.tables import GUEST_ROLE, Secret
from app.services.audit import TrailEvent, secret_events
from app.services.paging import Cursor, Page, page_of
from app.services.secrets import OWNER_COLUMNS, SecretSummary, summary_of

PAGE_SIZE = 25


def _created_by(user: User) -> Any:
    # Guests' secrets are never anyone's own, whatever an account's email might be.
    return (Secret.creator_email == user.email) & (Secret.creator_role != GUEST_ROLE)


async def list_my_secrets(
    user: User, after: Cursor | None = None, page_size: int = PAGE_SIZE
) -> Page[SecretSummary]:
    """Newest first; one query (served by the index on creator_email, created_at, id)."""
    if user.email is None:
        return Page([], None)
    where = _created_by(user)
    if after is not None:
        where &= after.before("created_at", after.id)
    rows = await (
        Secret.select(*OWNER_COLUMNS)
        .where(where)
        .order_by(Secret.created_at, Secret.id, ascending=False)
        .limit(page_size + 1)
    )
    secrets = [summary_of(row) for row in rows]
    return page_of(secrets, page_size, lambda last: Cursor(last.created_at, last.id))


async def find_my_secret(user: User, secret_id: str) -> SecretSummary | None:
    if user.email is None or not crypto.plausible_id(secret_id):
        return None
    row = (
        await Secret.select(*OWNER_COLUMNS)
        .where((Secret.id == secret_id) & _created_by(user))
        .first()
    )
    return summary_of(row) if row else None


async def secret_trail(user: User, secret_id: str) -> tuple[SecretSummary, list[TrailEvent]] | None:
    """The creator's view of one secret's history; None for anyone else (as if unknown)."""
    secret = await find_my_secret(user, secret_id)
    if secret is None:
        return None
    return secret, await secret_events(secret_id)
