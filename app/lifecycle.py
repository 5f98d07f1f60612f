"""The states a secret and an invitation pass through (DESIGN.md, "Life of a secret"); rows store
their values, pages label them, services move rows from one to the next."""

from __future__ import annotations

from enum import StrEnum


class SecretState(StrEnum):
    WAITING = "waiting"
    OPENED = "opened"
    EXPIRED = "expired"
    REVOKED = "revoked"


class InvitationState(StrEnum):
    OPEN = "open"
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"
