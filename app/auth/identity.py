"""Who a signed-in person is, derived once from verified OIDC claims at sign-in."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from app.settings import Settings


class Role(StrEnum):
    STAFF = "staff"
    CUSTOMER = "customer"


@dataclass(frozen=True)
class User:
    sub: str
    # None unless a valid address the provider verified: an unverified email opens nothing.
    email: str | None
    name: str
    role: Role
    groups: frozenset[str]  # only configured group keys
    locale: str | None
    zoneinfo: str | None
    is_auditor: bool = False

    @property
    def can_share(self) -> bool:
        """Without a verified email nobody may create, open or be told they are a customer."""
        return self.email is not None

    @property
    def is_staff(self) -> bool:
        return self.role is Role.STAFF

    @property
    def label(self) -> str:
        return self.email or self.name or self.sub

    def to_session(self) -> dict[str, Any]:
        data = asdict(self)
        data["groups"] = sorted(self.groups)
        data["role"] = self.role.value
        return data

    @classmethod
    def from_session(cls, data: Mapping[str, Any]) -> User:
        return cls(
            sub=str(data["sub"]),
            email=data.get("email"),
            name=str(data.get("name") or ""),
            role=Role(data["role"]),
            groups=frozenset(data.get("groups") or ()),
            locale=data.get("locale"),
            zoneinfo=data.get("zoneinfo"),
            is_auditor=bool(data.get("is_auditor")),
        )


# One @, a local part, and a dotted domain, nothing that is space or control: enough to tell an
# address from a bare word like "guest", which must never stand for a person.
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")


def _claimed_groups(
    claims: Mapping[str, Any], claim_name: str, aliases: Mapping[str, str]
) -> set[str]:
    raw = claims.get(claim_name)
    if isinstance(raw, str):
        raw = raw.replace(",", " ").split()
    if not isinstance(raw, list | tuple):
        return set()
    values = {str(value).strip().lower() for value in raw if isinstance(value, str | int)}
    return {aliases.get(value, value) for value in values}


def email_is_verified(claims: Mapping[str, Any], trust_email: bool) -> bool:
    """Providers send a boolean, a string, or (Entra ID) nothing at all."""
    flag = claims.get("email_verified")
    if flag is True or (isinstance(flag, str) and flag.strip().lower() == "true"):
        return True
    # A provider trusted for its emails still gets the last word when it says "not verified".
    explicit_no = flag is False or (isinstance(flag, str) and flag.strip().lower() == "false")
    return trust_email and not explicit_no


def valid_email(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL.fullmatch(email) or not email.isprintable():
        return None
    return email


def user_from_claims(claims: Mapping[str, Any], settings: Settings) -> User:
    email = valid_email(claims.get("email"))
    if not email_is_verified(claims, settings.oidc_trust_email):
        email = None
    claimed = _claimed_groups(claims, settings.groups_claim, settings.group_aliases)
    domain = email.rpartition("@")[2] if email else ""
    staff = bool(email) and (domain in settings.staff_domains or settings.staff_group in claimed)
    groups = frozenset(claimed & set(settings.groups)) if staff else frozenset()
    name = claims.get("name")
    locale = claims.get("locale")
    zone = claims.get("zoneinfo")
    return User(
        sub=str(claims["sub"]),
        email=email,
        name=name if isinstance(name, str) else "",
        role=Role.STAFF if staff else Role.CUSTOMER,
        groups=groups,
        locale=locale if isinstance(locale, str) else None,
        zoneinfo=zone if isinstance(zone, str) else None,
        is_auditor=staff and settings.audit_group in claimed,
    )
