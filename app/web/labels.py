"""Words for the audit trail's codes, translated at render time (the codes stay in the rows)."""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from app import i18n
from app.i18n import N_, _, format_size, ngettext, translate
from app.lifecycle import SecretState
from app.services.audit import ANONYMOUS, GUEST, SYSTEM, ActorKind, AuditAction
from app.services.secrets import DEFAULT_EXPIRY, EXPIRY_CHOICES, MAX_VIEWS
from app.web.forms import expiry_value

# Plain tables of English words: each is translated when shown, in the request's language.
_ACTIONS: dict[str, str] = {
    AuditAction.SECRET_CREATED: N_("Created"),
    AuditAction.SECRET_REVEALED: N_("Opened"),
    AuditAction.SECRET_REFUSED: N_("Attempt refused"),
    AuditAction.SECRET_REVOKED: N_("Revoked"),
    AuditAction.SECRET_EXPIRED: N_("Expired"),
    AuditAction.SECRET_CREATE_REFUSED: N_("Sharing refused"),
    AuditAction.INVITATION_CREATED: N_("Invitation created"),
    AuditAction.INVITATION_OPENED: N_("Invitation opened"),
    AuditAction.INVITATION_USED: N_("Invitation used"),
    AuditAction.INVITATION_REVOKED: N_("Invitation revoked"),
    AuditAction.INVITATION_EXPIRED: N_("Invitation expired"),
    AuditAction.INVITATION_CREATE_REFUSED: N_("Invitation refused"),
    AuditAction.SIGNIN: N_("Signed in"),
    AuditAction.AUDIT_EXPORTED: N_("Audit trail exported"),
}
_REASONS: dict[str, str] = {
    "wrong_person": N_("wrong person"),
    "wrong_key": N_("wrong key"),
    "last_view": N_("last view"),
    "cannot_open": N_("cannot be opened"),
}
_STATES: dict[str, str] = {
    SecretState.WAITING: N_("Waiting"),
    SecretState.OPENED: N_("Opened"),
    SecretState.EXPIRED: N_("Expired"),
    SecretState.REVOKED: N_("Revoked"),
}
_EXPIRIES: dict[timedelta, str] = {
    timedelta(hours=1): N_("1 hour"),
    timedelta(days=1): N_("1 day"),
    timedelta(days=7): N_("7 days"),
}
_OUTCOMES: dict[str, str] = {
    "ok": N_("done"),
    "refused": N_("refused"),
}

KNOWN_ACTIONS: tuple[str, ...] = tuple(action.value for action in AuditAction)


def _label(table: dict[str, str], code: str) -> str:
    # A code the table lacks (an older release's, say) shows as it is.
    words = table.get(code)
    return translate(words) if words else code


def action_label(code: str) -> str:
    return _label(_ACTIONS, code)


def reason_label(code: str) -> str:
    # A file's size is recorded as "file:<bytes>" (never its name or type).
    kind, _colon, size = code.partition(":")
    if kind == "file" and size.isdigit():
        return _("file, %(size)s", size=format_size(int(size)))
    return _label(_REASONS, code)


def state_label(code: str) -> str:
    return _label(_STATES, code)


def outcome_label(code: str) -> str:
    return _label(_OUTCOMES, code)


def expiry_options() -> tuple[tuple[str, str], ...]:
    """The lifetimes a form offers, as (value sent, words shown), in the order offered."""
    return _expiry_options(i18n.current_language.get())


def view_limit_options() -> tuple[tuple[int, str], ...]:
    """The view limits a form offers, as (number, words shown)."""
    return _view_limit_options(i18n.current_language.get())


# Every page with a form shows these: worded once per language, not at every render.
@functools.cache
def _expiry_options(language: str) -> tuple[tuple[str, str], ...]:
    return tuple((expiry_value(choice), translate(_EXPIRIES[choice])) for choice in EXPIRY_CHOICES)


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
