"""The expiry sweep: delete expired ciphertexts (keeping tombstones), expire invitations, prune
old audit rows. Each row changes state exactly once, even with two sweeps running at once,
because the state check is part of the UPDATE itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.db.engine import is_postgres, write_transaction
from app.db.tables import AuditEvent, Invitation, Secret, SecretChunk
from app.lifecycle import InvitationState, SecretState
from app.services import audit, files
from app.services.audit import SYSTEM, AuditAction
from app.services.secrets import tombstone

logger = logging.getLogger("app.sweeper")


@dataclass(frozen=True)
class SweepResult:
    secrets_expired: int
    invitations_expired: int
    audit_rows_pruned: int
    files_deleted: int = 0


async def sweep(now: datetime, audit_retention: timedelta) -> SweepResult:
    async with write_transaction():
        expired_secrets = await (
            Secret.update(tombstone(SecretState.EXPIRED, now))
            .where((Secret.state == SecretState.WAITING.value) & (Secret.expires_at <= now))
            .returning(Secret.id, Secret.creator_email)
        )
        # Opened secrets whose download window closed without a completed download.
        lapsed = await (
            Secret.update({**files.CLOSED_FILE, Secret.wrapped_key: None})
            .where(
                (Secret.state != SecretState.WAITING.value)
                & Secret.file_until.is_not_null()
                & (Secret.file_until <= now)
            )
            .returning(Secret.id)
        )
        await files.delete_chunks([row["id"] for row in [*expired_secrets, *lapsed]])
        expired_invitations = await (
            Invitation.update({Invitation.state: InvitationState.EXPIRED.value})
            .where(
                (Invitation.state == InvitationState.OPEN.value) & (Invitation.expires_at <= now)
            )
            .returning(Invitation.id, Invitation.creator_email)
        )
        events = [
            audit.event(
                AuditAction.SECRET_EXPIRED,
                at=now,
                actor=SYSTEM,
                secret_id=row["id"],
                target=row["creator_email"],
            )
            for row in expired_secrets
        ] + [
            audit.event(
                AuditAction.INVITATION_EXPIRED,
                at=now,
                actor=SYSTEM,
                invitation_id=row["id"],
                target=row["creator_email"],
            )
            for row in expired_invitations
        ]
        if events:
            await AuditEvent.insert(*events)
        pruned = await (
            AuditEvent.delete()
            .where(AuditEvent.at < now - audit_retention)
            .returning(AuditEvent.id)
        )
    if is_postgres(SecretChunk._meta.db):
        await vacuum_chunks()
    result = SweepResult(len(expired_secrets), len(expired_invitations), len(pruned), len(lapsed))
    logger.info(
        "sweep: %d secrets expired, %d invitations expired, %d audit rows pruned",
        result.secrets_expired,
        result.invitations_expired,
        result.audit_rows_pruned,
    )
    return result


async def vacuum_chunks() -> None:
    """Deleted chunks (by a last download, a revocation or this sweep) linger as dead tuples
    until vacuumed; this makes their space reusable soon rather than whenever autovacuum
    comes (it does not overwrite it: see SECURITY.md). Outside any transaction, as it must."""
    stats = await SecretChunk.raw(
        "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'secret_chunk'"
    )
    if stats and stats[0]["n_dead_tup"]:
        await SecretChunk.raw("VACUUM secret_chunk")
