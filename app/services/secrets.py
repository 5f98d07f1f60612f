"""The life of a secret: create → seal → store → (link) → authorise → reveal → delete.

The key is made here, returned once for the link, and never stored. Reveal runs in one
transaction that locks the row, so concurrent reveals never exceed the allowed views; a wrong
person or a wrong key rolls back and spends no view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from piccolo.query.methods.update import Update

from app import crypto
from app.auth.identity import User
from app.auth.rules import Recipient, check_may_address, may_open
from app.db.engine import write_transaction
from app.db.tables import Secret, SecretState
from app.services import audit
from app.services.audit import ClientInfo

EXPIRY_CHOICES: tuple[timedelta, ...] = (timedelta(hours=1), timedelta(days=1), timedelta(days=7))
DEFAULT_EXPIRY = timedelta(days=1)
MAX_VIEWS = 10


class SecretUnavailable(Exception):
    """Unknown, used, expired or revoked: deliberately indistinguishable."""


class NotForYou(Exception):
    """The secret is waiting, but for someone else."""


class WrongKey(Exception):
    """The key in the link does not open this secret."""


@dataclass(frozen=True)
class CreatedSecret:
    id: str
    key: str  # url-safe text, for the link fragment only
    expires_at: datetime
    max_views: int


@dataclass(frozen=True)
class SecretSummary:
    id: str
    state: SecretState
    creator_email: str
    recipient: Recipient
    created_at: datetime
    expires_at: datetime
    views_left: int
    max_views: int
    opened_at: datetime | None
    opened_by: str | None
    is_guest_submission: bool

    def is_waiting(self, now: datetime) -> bool:
        return self.state is SecretState.WAITING and self.expires_at > now


@dataclass(frozen=True)
class RevealedSecret:
    content: str
    views_left: int


_SUMMARY_COLUMNS = (
    Secret.id,
    Secret.state,
    Secret.creator_email,
    Secret.recipient_email,
    Secret.recipient_group,
    Secret.created_at,
    Secret.expires_at,
    Secret.views_left,
    Secret.max_views,
    Secret.opened_at,
    Secret.opened_by,
    Secret.invitation_id,
)


def _summary(row: dict[str, Any]) -> SecretSummary:
    return SecretSummary(
        id=row["id"],
        state=SecretState(row["state"]),
        creator_email=row["creator_email"],
        recipient=Recipient(email=row["recipient_email"], group=row["recipient_group"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        views_left=row["views_left"],
        max_views=row["max_views"],
        opened_at=row["opened_at"],
        opened_by=row["opened_by"],
        is_guest_submission=row["invitation_id"] is not None,
    )


async def create_secret(
    *,
    content: str,
    recipient: Recipient,
    creator: User,
    expires_in: timedelta,
    max_views: int,
    now: datetime,
    client: ClientInfo,
) -> CreatedSecret:
    check_may_address(creator, recipient)
    secret_id = crypto.new_id()
    key = crypto.new_key()
    sealed = crypto.seal(content.encode(), key, secret_id.encode())
    expires_at = now + expires_in
    row = Secret(
        id=secret_id,
        state=SecretState.WAITING.value,
        nonce=sealed.nonce,
        ciphertext=sealed.ciphertext,
        creator_email=creator.email,
        creator_role=creator.role.value,
        recipient_email=recipient.email,
        recipient_group=recipient.group,
        max_views=max_views,
        views_left=max_views,
        created_at=now,
        expires_at=expires_at,
    )
    created = audit.event(
        "secret.created",
        at=now,
        actor=creator.label,
        client=client,
        secret_id=secret_id,
        target=recipient.label,
    )
    await audit.insert_with_event(row, created)
    return CreatedSecret(secret_id, crypto.encode_key(key), expires_at, max_views)


async def find_secret(secret_id: str) -> SecretSummary | None:
    """One query, no side effect: what the link page needs to show (never the content)."""
    if not _plausible_id(secret_id):
        return None
    row = await Secret.select(*_SUMMARY_COLUMNS).where(Secret.id == secret_id).first()
    return _summary(row) if row else None


def _plausible_id(secret_id: str) -> bool:
    return 0 < len(secret_id) <= 32 and all(c.isalnum() or c in "-_" for c in secret_id)


async def reveal_secret(
    *,
    secret_id: str,
    viewer: User,
    now: datetime,
    client: ClientInfo,
    key_text: str | None = None,
    master_keys: Sequence[bytes] = (),
) -> RevealedSecret:
    """Open a secret for its recipient and count the view, in one locked transaction.

    The key comes from the link (`key_text`); a guest's secret has no link, and its key is
    unwrapped with the server's master keys instead (`key_text=None`).
    """
    if not _plausible_id(secret_id):
        raise SecretUnavailable
    guest_submission = key_text is None
    refusal: str | None = None
    target = ""
    try:
        async with write_transaction() as locking:
            query = Secret.select(
                Secret.nonce,
                Secret.ciphertext,
                Secret.wrapped_key,
                Secret.recipient_email,
                Secret.recipient_group,
                Secret.views_left,
                Secret.invitation_id,
            ).where(
                (Secret.id == secret_id)
                & (Secret.state == SecretState.WAITING.value)
                & (Secret.expires_at > now)
                # A link's key never opens a guest's secret, and the other way round.
                & (
                    Secret.invitation_id.is_not_null()
                    if guest_submission
                    else Secret.invitation_id.is_null()
                )
            )
            row = await (query.lock_rows() if locking else query).first()
            if row is None or row["ciphertext"] is None:
                raise SecretUnavailable
            target = row["recipient_email"] or row["recipient_group"] or ""
            if not may_open(
                viewer, row["recipient_email"], row["recipient_group"], guest_submission
            ):
                refusal = "wrong_person"
                raise NotForYou
            try:
                plaintext = _open(row, secret_id, key_text, master_keys)
            except WrongKey:
                refusal = "wrong_key"
                raise
            views_left = row["views_left"] - 1
            # The view and its audit row in one statement on PostgreSQL (one round trip).
            revealed = audit.event(
                "secret.revealed",
                at=now,
                actor=viewer.label,
                client=client,
                secret_id=secret_id,
                invitation_id=row["invitation_id"],
                target=target,
                reason="guest_secret"
                if guest_submission
                else "last_view"
                if not views_left
                else "",
            )
            await audit.write_with_event(_count_view(secret_id, views_left, viewer, now), revealed)
    except (NotForYou, WrongKey):
        # The refusal is recorded after the rollback: no view was spent.
        await audit.record(
            "secret.refused",
            at=now,
            actor=viewer.label,
            outcome="refused",
            client=client,
            secret_id=secret_id,
            target=target,
            reason=refusal or "",
        )
        raise
    return RevealedSecret(
        content=plaintext.decode("utf-8", errors="replace"), views_left=views_left
    )


def _open(
    row: dict[str, Any], secret_id: str, key_text: str | None, master_keys: Sequence[bytes]
) -> bytes:
    sealed = crypto.Sealed(nonce=row["nonce"], ciphertext=row["ciphertext"])
    if key_text is None:
        try:
            key = crypto.unwrap_key(row["wrapped_key"], master_keys, secret_id.encode())
        except crypto.DecryptionError:
            # Wrapped under a master key that was rotated away: nothing can open it any more.
            raise SecretUnavailable from None
    else:
        link_key = crypto.decode_key(key_text)
        if link_key is None:
            raise WrongKey
        key = link_key
    try:
        return crypto.open_sealed(sealed, key, secret_id.encode())
    except crypto.DecryptionError:
        raise WrongKey from None


def _count_view(secret_id: str, views_left: int, viewer: User, now: datetime) -> Update[Any]:
    values: dict[Any, Any] = {
        Secret.views_left: views_left,
        Secret.opened_at: now,
        Secret.opened_by: viewer.label,
    }
    if views_left == 0:
        # The last view deletes the content; a tombstone remains for the creator and the audit.
        values |= {
            Secret.state: SecretState.OPENED.value,
            Secret.ciphertext: None,
            Secret.nonce: None,
            Secret.wrapped_key: None,
            Secret.closed_at: now,
        }
    return Secret.update(values).where(Secret.id == secret_id)


async def revoke_secret(*, secret_id: str, user: User, now: datetime, client: ClientInfo) -> bool:
    """Only the creator revokes, and only a waiting secret; returns whether it was revoked."""
    if not _plausible_id(secret_id) or user.email is None:
        return False
    async with write_transaction():
        revoked = await (
            Secret.update(
                {
                    Secret.state: SecretState.REVOKED.value,
                    Secret.ciphertext: None,
                    Secret.nonce: None,
                    Secret.wrapped_key: None,
                    Secret.closed_at: now,
                }
            )
            .where(
                (Secret.id == secret_id)
                & (Secret.creator_email == user.email)
                & (Secret.state == SecretState.WAITING.value)
            )
            .returning(Secret.id)
        )
        if revoked:
            await audit.record(
                "secret.revoked", at=now, actor=user.label, client=client, secret_id=secret_id
            )
    return bool(revoked)
