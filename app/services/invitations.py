"""Guest invitations: staff invite someone without an account to send them exactly one secret.

The link's token is never stored, only its hash. Single use is enforced by the database: the
guest's submission is one conditional UPDATE (open → used) in the same transaction as the secret
INSERT, so racing or repeated submissions store exactly one secret. The guest's secret has no
link key: its per-secret key is stored wrapped by the master key, and only the inviting staff
member's authorised request unwraps it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app import crypto
from app.auth.identity import User
from app.auth.rules import NotAllowed, may_invite
from app.db.engine import write_transaction
from app.db.tables import GUEST_ROLE, Invitation, Secret
from app.lifecycle import InvitationState, SecretState
from app.services import audit, files
from app.services.audit import AuditAction, ClientInfo
from app.services.secrets import EXPIRY_CHOICES, ByMasterKeys, RevealedSecret, reveal_secret

# A guest's secret lives 7 days from submission, whatever was left of the invitation, so the
# staff member always has the same time to open it (and master keys can rotate within 7 days).
GUEST_SECRET_LIFETIME = timedelta(days=7)
MAX_LABEL_CHARS = 200
GUEST_CREATOR = "guest"  # Secret.creator_email of guest submissions: never a real email
RECEIVED_LIMIT = 50


class InvitationUnavailable(Exception):
    """Unknown, used, expired or revoked: deliberately indistinguishable."""


@dataclass(frozen=True)
class CreatedInvitation:
    id: str
    token: str  # for the link only; never stored, shown once
    expires_at: datetime


@dataclass(frozen=True)
class OpenInvitation:
    """What the guest form needs; the staff-only label is deliberately not part of it."""

    id: str
    inviter_email: str
    expires_at: datetime


@dataclass(frozen=True)
class InvitationSummary:
    id: str
    label: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class ReceivedSecret:
    invitation_id: str
    label: str
    secret_id: str
    received_at: datetime
    state: SecretState
    expires_at: datetime
    opened_at: datetime | None

    def is_waiting(self, now: datetime) -> bool:
        return self.state is SecretState.WAITING and self.expires_at > now


def plausible_token(token: str) -> bool:
    # Only the shape crypto.new_id makes reaches the database (and its hash function).
    return 16 <= len(token) <= 64 and all(c.isalnum() or c in "-_" for c in token)


async def create_invitation(
    *, creator: User, label: str, expires_in: timedelta, now: datetime, client: ClientInfo
) -> CreatedInvitation:
    if not may_invite(creator) or creator.email is None:
        raise NotAllowed("not_staff")
    if expires_in not in EXPIRY_CHOICES:
        raise ValueError("unsupported invitation lifetime")
    invitation_id = crypto.new_id()
    token = crypto.new_id()
    expires_at = now + expires_in
    async with write_transaction():
        await Invitation.insert(
            Invitation(
                id=invitation_id,
                token_hash=crypto.hash_token(token),
                creator_email=creator.email,
                label=label[:MAX_LABEL_CHARS],
                state=InvitationState.OPEN.value,
                created_at=now,
                expires_at=expires_at,
            )
        )
        # The label may name a person: it stays out of the audit trail, like the token.
        await audit.record(
            AuditAction.INVITATION_CREATED,
            at=now,
            actor=creator.label,
            client=client,
            invitation_id=invitation_id,
            reason=f"expires_in={int(expires_in.total_seconds())}",
        )
    return CreatedInvitation(invitation_id, token, expires_at)


async def find_open_invitation(token: str, now: datetime) -> OpenInvitation | None:
    """Read only: a GET of the guest page must never use up or change the invitation."""
    if not plausible_token(token):
        return None
    row = (
        await Invitation.select(
            Invitation.id, Invitation.token_hash, Invitation.creator_email, Invitation.expires_at
        )
        .where(
            (Invitation.token_hash == crypto.hash_token(token))
            & (Invitation.state == InvitationState.OPEN.value)
            & (Invitation.expires_at > now)
        )
        .first()
    )
    if row is None or not crypto.tokens_match(token, row["token_hash"]):
        return None
    return OpenInvitation(row["id"], row["creator_email"], row["expires_at"])


async def record_opened(invitation: OpenInvitation, now: datetime, client: ClientInfo) -> None:
    # Once per client and hour: reloading the guest page must not fill the trail.
    await audit.record_once(
        AuditAction.INVITATION_OPENED,
        within=timedelta(hours=1),
        at=now,
        actor=audit.GUEST,
        client=client,
        invitation_id=invitation.id,
        target=invitation.inviter_email,
        per_client=True,
    )


async def submit_guest_secret(
    *,
    token: str,
    content: str,
    now: datetime,
    master_keys: Sequence[bytes],
    client: ClientInfo,
    link_key: bytes | None = None,
    file: files.SpooledFile | None = None,
) -> OpenInvitation:
    """Store the guest's one secret (text, a file sealed under `link_key`'s keys, or both);
    raises InvitationUnavailable unless this call used the invitation up."""
    if not plausible_token(token):
        raise InvitationUnavailable
    secret_id = crypto.new_id()
    # Format 2 like every new secret; no link carries K, so the master key wraps it.
    key = link_key or crypto.new_key()
    sealed = crypto.seal_text(content.encode(), crypto.derive_keys(key).content_key)
    wrapped = crypto.wrap_key(key, master_keys, secret_id.encode())
    async with write_transaction():
        # The state check is part of the UPDATE: of any number of racing submissions, exactly
        # one sees a row come back; the others wait for it, then match nothing.
        used = await (
            Invitation.update(
                {
                    Invitation.state: InvitationState.USED.value,
                    Invitation.used_at: now,
                    Invitation.secret_id: secret_id,
                }
            )
            .where(
                (Invitation.token_hash == crypto.hash_token(token))
                & (Invitation.state == InvitationState.OPEN.value)
                & (Invitation.expires_at > now)
            )
            .returning(Invitation.id, Invitation.token_hash, Invitation.creator_email)
        )
        if not used or not crypto.tokens_match(token, used[0]["token_hash"]):
            raise InvitationUnavailable  # rolls back: nothing stored, nothing used
        invitation_id: str = used[0]["id"]
        inviter: str = used[0]["creator_email"]
        await Secret.insert(
            Secret(
                id=secret_id,
                state=SecretState.WAITING.value,
                nonce=sealed.nonce,
                ciphertext=sealed.ciphertext,
                wrapped_key=wrapped,
                format_version=crypto.FORMAT_V2,
                file_size=file.size if file else None,
                file_meta=file.meta if file else None,
                file_prefix=file.prefix if file else None,
                creator_email=GUEST_CREATOR,
                creator_role=GUEST_ROLE,
                recipient_email=inviter,
                recipient_group=None,
                invitation_id=invitation_id,
                max_views=1,
                views_left=1,
                created_at=now,
                expires_at=now + GUEST_SECRET_LIFETIME,
            )
        )
        if file is not None:
            await files.store_chunks(secret_id, file)
        await audit.record(
            AuditAction.INVITATION_USED,
            at=now,
            actor=audit.GUEST,
            client=client,
            invitation_id=invitation_id,
            secret_id=secret_id,
            target=inviter,
            reason=f"file:{file.size}" if file else "",
        )
    return OpenInvitation(invitation_id, inviter, now + GUEST_SECRET_LIFETIME)


async def list_open_invitations(user: User, now: datetime) -> list[InvitationSummary]:
    if user.email is None:
        return []
    rows = (
        await Invitation.select(
            Invitation.id, Invitation.label, Invitation.created_at, Invitation.expires_at
        )
        .where(
            (Invitation.creator_email == user.email)
            & (Invitation.state == InvitationState.OPEN.value)
            & (Invitation.expires_at > now)
        )
        .order_by(Invitation.created_at, ascending=False)
    )
    return [
        InvitationSummary(row["id"], row["label"], row["created_at"], row["expires_at"])
        for row in rows
    ]


async def list_received(user: User) -> list[ReceivedSecret]:
    """Answered invitations of this staff member, newest first, with their secret's state."""
    if user.email is None:
        return []
    invitations = (
        await Invitation.select(
            Invitation.id, Invitation.label, Invitation.used_at, Invitation.secret_id
        )
        .where(
            (Invitation.creator_email == user.email)
            & (Invitation.state == InvitationState.USED.value)
        )
        .order_by(Invitation.used_at, ascending=False)
        .limit(RECEIVED_LIMIT)
    )
    secret_ids = [row["secret_id"] for row in invitations if row["secret_id"]]
    if not secret_ids:
        return []
    secrets: dict[str, dict[str, Any]] = {
        row["id"]: row
        for row in await Secret.select(
            Secret.id, Secret.state, Secret.expires_at, Secret.opened_at
        ).where(Secret.id.is_in(secret_ids) & (Secret.recipient_email == user.email))
    }
    received = []
    for row in invitations:
        secret = secrets.get(row["secret_id"] or "")
        if secret is None:
            continue
        received.append(
            ReceivedSecret(
                invitation_id=row["id"],
                label=row["label"],
                secret_id=secret["id"],
                received_at=row["used_at"],
                state=SecretState(secret["state"]),
                expires_at=secret["expires_at"],
                opened_at=secret["opened_at"],
            )
        )
    return received


async def reveal_guest_secret(
    *, secret_id: str, viewer: User, now: datetime, master_keys: Sequence[bytes], client: ClientInfo
) -> RevealedSecret:
    """Only the inviting staff member opens it, once; the same locked reveal as any secret."""
    return await reveal_secret(
        secret_id=secret_id,
        viewer=viewer,
        now=now,
        client=client,
        opener=ByMasterKeys(master_keys),
    )


async def revoke_invitation(
    *, invitation_id: str, user: User, now: datetime, client: ClientInfo
) -> bool:
    """Only its creator revokes, and only while it is unused; returns whether it was revoked."""
    if not crypto.plausible_id(invitation_id) or user.email is None:
        return False
    async with write_transaction():
        revoked = await (
            Invitation.update({Invitation.state: InvitationState.REVOKED.value})
            .where(
                (Invitation.id == invitation_id)
                & (Invitation.creator_email == user.email)
                & (Invitation.state == InvitationState.OPEN.value)
                & (Invitation.expires_at > now)  # expired, even if not yet swept
            )
            .returning(Invitation.id)
        )
        if revoked:
            await audit.record(
                AuditAction.INVITATION_REVOKED,
                at=now,
                actor=user.label,
                client=client,
                invitation_id=invitation_id,
            )
    return bool(revoked)
