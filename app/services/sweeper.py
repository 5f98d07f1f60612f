"""The expiry sweep: delete expired ciphertexts (keeping tombstones), expire invitations, prune
old audit rows. Each row changes state exactly once, even with two sweeps running at once,
because the state check is part of the UPDATE itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.db.engine import write_transaction
from app.db.tables import AuditEvent, Invitation, InvitationState, Secret, SecretState
from app.services.audit import SYSTEM, actor_columns

logger = logging.getLogger("app.sweeper")


@dataclass(frozen=True)
class SweepResult:
    secrets_expired: int
    invitations_expired: int
    audit_rows_pruned: int


async def sweep(now: datetime, audit_retention: timedelta) -> SweepResult:
    async with write_transaction():
        expired_secrets = await (
            Secret.update(
                {
                    Secret.state: SecretState.EXPIRED.value,
                    Secret.ciphertext: None,
                    Secret.nonce: None,
                    Secret.wrapped_key: None,
                    Secret.closed_at: now,
                }
            )
            .where((Secret.state == SecretState.WAITING.value) & (Secret.expires_at <= now))
            .returning(Secret.id, Secret.creator_email)
        )
        expired_invitations = await (
            Invitation.update({Invitation.state: InvitationState.EXPIRED.value})
            .where(
                (Invitation.state == InvitationState.OPEN.value) & (Invitation.expires_at <= now)
            )
            .returning(Invitation.id, Invitation.creator_email)
        )
        events = [
            AuditEvent(
                at=now,
                **actor_columns(SYSTEM),
                action="secret.expired",
                outcome="ok",
                secret_id=row["id"],
                target=row["creator_email"],
            )
            for row in expired_secrets
        ] + [
            AuditEvent(
                at=now,
                **actor_columns(SYSTEM),
                action="invitation.expired",
                outcome="ok",
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
    result = SweepResult(len(expired_secrets), len(expired_invitations), len(pruned))
    logger.info(
        "sweep: %d secrets expired, %d invitations expired, %d audit rows pruned",
        result.secrets_expired,
        result.invitations_expired,
        result.audit_rows_pruned,
    )
    return result
