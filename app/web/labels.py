"""Words for the audit trail's codes, translated at render time (the codes stay in the rows)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from app import i18n
from app.db.tables import SecretState
from app.i18n import _, format_size, ngettext
from app.services.audit import ANONYMOUS, GUEST, SYSTEM, ActorKind, AuditAction
from app.services.secrets import DEFAULT_EXPIRY, EXPIRY_CHOICES, MAX_VIEWS
from app.web.forms import expiry_value

# Lambdas, so each label is translated into the language of the request that shows it.
_ACTIONS: dict[AuditAction, Callable[[], str]] = {
    AuditAction.SECRET_CREATED: lambda: _("Created"),
    AuditAction.SECRET_REVEALED: lambda: _("Opened"),
    AuditAction.SECRET_REFUSED: lambda: _("Attempt refused"),
    AuditAction.SECRET_REVOKED: lambda: _("Revoked"),
    AuditAction.SECRET_EXPIRED: lambda: _("Expired"),
    AuditAction.SECRET_CREATE_REFUSED: lambda: _("Sharing refused"),
    AuditAction.INVITATION_CREATED: lambda: _("Invitation created"),
    AuditAction.INVITATION_OPENED: lambda: _("Invitation opened"),
    AuditAction.INVITATION_USED: lambda: _("Invitation used"),
    AuditAction.INVITATION_REVOKED: lambda: _("Invitation revoked"),
    AuditAction.INVITATION_EXPIRED: lambda: _("Invitation expired"),
    AuditAction.INVITATION_CREATE_REFUSED: lambda: _("Invitation refused"),
    AuditAction.SIGNIN: lambda: _("Signed in"),
    AuditAction.AUDIT_EXPORTED: lambda: _("Audit trail exported"),
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
_EXPIRIES: dict[timedelta, Callable[[], str]] = {
    timedelta(hours=1): lambda: _("1 hour"),
    timedelta(days=1): lambda: _("1 day"),
    timedelta(days=7): lambda: _("7 days"),
}
_OUTCOMES: dict[str, Callable[[], str]] = {
    "ok": lambda: _("done"),
    "refused": lambda: _("refused"),
}

KNOWN_ACTIONS: tuple[str, ...] = tuple(action.value for action in AuditAction)


def action_label(code: str) -> str:
    # Rows hold the plain code; a code no member has (an older release's) shows as it is.
    label = _ACTIONS.get(AuditAction(code)) if code in KNOWN_ACTIONS else None
    return label() if label else code


def reason_label(code: str) -> str:
    # A file's size is recorded as "file:<bytes>" (never its name or type).
    kind, _colon, size = code.partition(":")
    if kind == "file" and size.isdigit():
        return _("file, %(size)s", size=format_size(int(size)))
    label = _REASONS.get(code)
    return label() if label else code


def state_label(code: str) -> str:
    label = _STATES.get(code)
    return label() if label else code


def outcome_label(code: str) -> str:
    label = _OUTCOMES.get(code)
    return label() if label else code


def expiry_options() -> tuple[tuple[str, str], ...]:
    """The lifetimes a form offers, as (value sent, words shown), in the order offered."""
    return _expiry_options(i18n.current_language.get())


def view_limit_options() -> tuple[tuple[int, str], ...]:
    """The view limits a form offers, as (number, words shown)."""
    return _view_limit_options(i18n.current_language.get())


# Every page with a form shows these: worded once per language, not at every render.
@functools.cache
def _expiry_options(language: str) -> tuple[tuple[str, str], ...]:
    return tuple((expiry_value(choice), _EXPIRIES[choice]()) for choice in EXPIRY_CHOICES)


@functools.cache
def _view_limit_options(language: str) -> tuple[tuple[int, str], ...]:
    return tuple((n, ngettext("%(num)s time", "%(num)s times", n)) for n in range(1, MAX_VIEWS + 1))


def actor_label(actor: str, kind: str = ActorKind.USER.value) -> str:
    # Only the kind column decides: an account called "system" is still just that account.
    if kind == SYSTEM:
        return _("Safe Share (automatic)")
    if kind == GUEST:
        return _("guest")
    if kind == ANONYMOUS:
        return _("not signed in")
    return actor


TEMPLATE_HELPERS: dict[str, Any] = {
    "expiry_options": expiry_options,
    "default_expiry": expiry_value(DEFAULT_EXPIRY),
    "view_limit_options": view_limit_options,
    "action_label": action_label,
    "reason_label": reason_label,
    "state_label": state_label,
    "outcome_label": outcome_label,
    "actor_label": actor_label,
}
