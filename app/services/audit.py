"""The audit trail: one row per sharing action, written in the same transaction as the action.

A row names who did what to which secret or invitation, and the outcome; never content, keys,
tokens or links. Client addresses are keyed hashes and user agents are truncated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.db.tables import AuditEvent

GUEST = "guest"
ANONYMOUS = "anonymous"
SYSTEM = "system"


@dataclass(frozen=True)
class ClientInfo:
    client: str = ""  # keyed hash of the address
    user_agent: str = ""  # first 120 characters


def _printable(text: str) -> str:
    # Forged requests put anything here; PostgreSQL refuses NUL and logs want no control codes.
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in text)


async def record(
    action: str,
    *,
    at: datetime,
    actor: str,
    outcome: str = "ok",
    client: ClientInfo | None = None,
    secret_id: str | None = None,
    invitation_id: str | None = None,
    target: str = "",
    reason: str = "",
) -> None:
    client = client or ClientInfo()
    target, reason = _printable(target), _printable(reason)
    await AuditEvent.insert(
        AuditEvent(
            at=at,
            actor=actor,
            action=action,
            outcome=outcome,
            secret_id=secret_id,
            invitation_id=invitation_id,
            target=target[:320],
            reason=reason[:60],
            client=client.client[:16],
            user_agent=client.user_agent[:120],
        )
    )


async def record_refusal_once(
    action: str,
    *,
    at: datetime,
    actor: str,
    secret_id: str,
    reason: str,
    within: timedelta,
    client: ClientInfo | None = None,
    target: str = "",
) -> None:
    """For a refusal anyone can repeat at will (reloading a page): one row per person, secret
    and reason per period, so reloads cannot fill the trail. One indexed look-up first."""
    seen = await AuditEvent.exists().where(
        (AuditEvent.secret_id == secret_id)
        & (AuditEvent.action == action)
        & (AuditEvent.actor == actor)
        & (AuditEvent.reason == reason)
        & (AuditEvent.at > at - within)
    )
    if not seen:
        await record(
            action,
            at=at,
            actor=actor,
            outcome="refused",
            client=client,
            secret_id=secret_id,
            target=target,
            reason=reason,
        )
