"""Words for the audit trail's codes, translated at render time (the codes stay in the rows)."""

from __future__ import annotations

from collections.abc import Callable

from app.db.tables import SecretState
from app.i18n import _
from app.services.audit import ANONYMOUS, GUEST, SYSTEM

# Lambdas, so each label is translated into the language of the request that shows it.
_ACTIONS: dict[str, Callable[[], str]] = {
    "secret.created": lambda: _("Created"),
    "secret.revealed": lambda: _("Opened"),
    "secret.refused": lambda: _("Attempt refused"),
    "secret.revoked": lambda: _("Revoked"),
    "secret.expired": lambda: _("Expired"),
    "secret.create_refused": lambda: _("Sharing refused"),
    "invitation.expired": lambda: _("Invitation expired"),
    "signin": lambda: _("Signed in"),
    "audit.exported": lambda: _("Audit trail exported"),
}
_REASONS: dict[str, Callable[[], str]] = {
    "wrong_person": lambda: _("wrong person"),
    "wrong_key": lambda: _("wrong key"),
    "last_view": lambda: _("last view"),
    "cannot_open": lambda: _("cannot be opened"),
}
_STATES: dict[str, Callable[[], str]] = {
    SecretState.WAITING.value: lambda: _("Waiting"),
    SecretState.OPENED.value: lambda: _("Opened"),
    SecretState.EXPIRED.value: lambda: _("Expired"),
    SecretState.REVOKED.value: lambda: _("Revoked"),
}
_OUTCOMES: dict[str, Callable[[], str]] = {
    "ok": lambda: _("done"),
    "refused": lambda: _("refused"),
}

KNOWN_ACTIONS: tuple[str, ...] = tuple(_ACTIONS)


def action_label(code: str) -> str:
    label = _ACTIONS.get(code)
    return label() if label else code


def reason_label(code: str) -> str:
    label = _REASONS.get(code)
    return label() if label else code


def state_label(code: str) -> str:
    label = _STATES.get(code)
    return label() if label else code


def outcome_label(code: str) -> str:
    label = _OUTCOMES.get(code)
    return label() if label else code


def actor_label(actor: str) -> str:
    if actor == SYSTEM:
        return _("Safe Share (automatic)")
    if actor == GUEST:
        return _("guest")
    if actor == ANONYMOUS:
        return _("not signed in")
    return actor


TEMPLATE_HELPERS: dict[str, Callable[[str], str]] = {
    "action_label": action_label,
    "reason_label": reason_label,
    "state_label": state_label,
    "outcome_label": outcome_label,
    "actor_label": actor_label,
}
