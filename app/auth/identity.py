"""Who a signed-in person is, derived once from verified OIDC claims at sign-in."""

from __future__ import annotations

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
    email: str | None  # None unless the provider verified it: an unverified email opens nothing
    name: str
    role: Role
    groups: frozenset[str]  # only configured group keys
    locale: str | None
    zoneinfo: str | None
    is_auditor: bool = False

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


def _claimed_groups(claims: Mapping[str, Any], claim_name: str) -> set[str]:
    raw = claims.get(claim_name)
    if isinstance(raw, str):
        raw = raw.replace(",", " ").split()
    if not isinstance(raw, list | tuple):
        return set()
    return {str(value).strip().lower() for value in raw if isinstance(value, str | int)}


def user_from_claims(claims: Mapping[str, Any], settings: Settings) -> User:
    email_raw = claims.get("email")
    verified = claims.get("email_verified") is True
    email = email_raw.strip().lower() if verified and isinstance(email_raw, str) else None
    claimed = _claimed_groups(claims, settings.groups_claim)
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
