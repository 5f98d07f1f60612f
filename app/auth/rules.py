"""The sharing rules of DESIGN.md as pure functions, enforced on the server for every request."""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.identity import User


@dataclass(frozen=True)
class Recipient:
    email: str | None = None
    group: str | None = None

    @property
    def label(self) -> str:
        return self.email or self.group or ""


class NotAllowed(Exception):
    """The signed-in person may not do this; the reason is a short code for the audit trail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_may_address(user: User, recipient: Recipient) -> None:
    """Staff address one email address; customers address one staff group, never an email."""
    if user.email is None:
        raise NotAllowed("unverified_email")
    if user.is_staff:
        if recipient.email is None or recipient.group is not None:
            raise NotAllowed("staff_must_address_email")
    elif recipient.group is None or recipient.email is not None:
        raise NotAllowed("customer_must_address_group")


def may_open(
    user: User,
    recipient_email: str | None,
    recipient_group: str | None,
    guest_submission: bool = False,
) -> bool:
    if user.email is None:
        return False
    if guest_submission:
        # A guest's secret is for the staff member who invited them, and only while staff.
        return user.is_staff and user.email == recipient_email
    if recipient_email is not None:
        return user.email == recipient_email
    return user.is_staff and recipient_group is not None and recipient_group in user.groups


def may_invite(user: User) -> bool:
    return user.is_staff and user.email is not None
