"""Settings: read from the environment once, validated, then injected.

Nothing else reads os.environ.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PREFIX = "SAFE_SHARE_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEV_DIR = Path(".dev")

# Group keys are what the identity provider's groups claim lists; names are shown per language.
DEFAULT_GROUPS: dict[str, dict[str, str]] = {
    "service": {"en": "Service", "nl": "Service", "de": "Service"},
    "go-engineers": {"en": "GO Engineers", "nl": "GO Engineers", "de": "GO Engineers"},
    "inside-sales": {"en": "Inside Sales", "nl": "Inside Sales", "de": "Innendienst"},
}


class TokenAuth(StrEnum):
    """How the client proves itself at the token endpoint (method names, not secrets)."""

    BASIC = "client_secret_basic"
    POST = "client_secret_post"


class SettingsError(ValueError):
    """A configuration value is missing or invalid."""


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = "sqlite:///safe_share.sqlite"
    redis_url: str | None = None
    secret_keys: tuple[bytes, ...] = field(default_factory=tuple)
    base_url: str = "http://127.0.0.1:8000"
    oidc_issuer: str = "http://127.0.0.1:8001"
    oidc_client_id: str = "safe-share-dev"
    oidc_client_secret: str = "safe-share-dev-secret"  # noqa: S105 - only the dev identity provider
    staff_domains: tuple[str, ...] = ("prowise.com",)
    staff_group: str = "staff"
    audit_group: str = "auditors"
    groups_claim: str = "groups"
    oidc_scopes: tuple[str, ...] = ("openid", "email", "profile")
    # True: the provider vouches for every email it sends (a company provider that manages its
    # accounts); False: only an `email_verified` of true counts.
    oidc_trust_email: bool = False
    oidc_token_auth: TokenAuth = TokenAuth.BASIC
    # A provider's group value (a Keycloak path, an Entra object id) → one of our group keys.
    group_aliases: Mapping[str, str] = field(default_factory=dict)
    groups: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: DEFAULT_GROUPS)
    languages: tuple[str, ...] = ("en", "nl", "de")
    default_timezone: str = "Europe/Amsterdam"
    session_idle_seconds: int = 30 * 60
    session_absolute_seconds: int = 12 * 3600
    audit_retention_days: int = 365
    max_secret_chars: int = 10_000
    max_file_bytes: int = 25_000_000
    sweep_interval_seconds: int = 60
    # The longest silence while a request body is still expected (then 408).
    body_timeout_seconds: int = 30
    # Reverse proxies (addresses or networks, validated) whose X-Forwarded-For entries are
    # believed; none by default. Kept as text: Litestar's signature model inspects Settings.
    trusted_proxies: tuple[str, ...] = ()
    # Rate limits: requests per window, counted per secret, token, client or user (fixed window).
    rate_window_seconds: int = 60
    rate_reveal_per_secret: int = 10
    rate_reveal_per_client: int = 30
    rate_guest_per_token: int = 5
    rate_guest_per_client: int = 10
    rate_signin_per_client: int = 20
    rate_create_per_user: int = 20

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def secure_cookies(self) -> bool:
        return self.env != "development" or self.base_url.startswith("https://")


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _dev_secret_key(dev_dir: Path) -> bytes:
    # Development only: a key generated once into a local file so sessions survive restarts.
    path = dev_dir / "secret_key"
    if not path.exists():
        dev_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}{name} must be a whole number") from exc
    if not low <= value <= high:
        raise SettingsError(f"{PREFIX}{name} must be between {low} and {high}")
    return value


def _groups(raw: str | None) -> Mapping[str, Mapping[str, str]]:
    if not raw:
        return DEFAULT_GROUPS
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{PREFIX}GROUPS must be JSON") from exc
    valid = isinstance(parsed, dict) and all(
        isinstance(key, str) and isinstance(names, dict) and "en" in names
        for key, names in parsed.items()
    )
    if not valid or not parsed:
        raise SettingsError(f'{PREFIX}GROUPS must look like {{"service": {{"en": "Service"}}}}')
    return cast(Mapping[str, Mapping[str, str]], parsed)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(PREFIX + name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise SettingsError(f"{PREFIX}{name} must be true or false")


def _scopes(raw: str | None) -> tuple[str, ...]:
    scopes = tuple(dict.fromkeys((raw or "openid email profile").replace(",", " ").split()))
    if "openid" not in scopes:
        raise SettingsError(f"{PREFIX}OIDC_SCOPES must include openid")
    # RFC 6749 §3.3: printable ASCII except space, double quote and backslash.
    if any(not all(0x21 <= ord(c) <= 0x7E and c not in '"\\' for c in s) for s in scopes):
        raise SettingsError(f"{PREFIX}OIDC_SCOPES holds a character a scope cannot have")
    return scopes


def _group_aliases(raw: str | None) -> Mapping[str, str]:
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{PREFIX}GROUP_ALIASES must be JSON") from exc
    if not isinstance(parsed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
    ):
        raise SettingsError(f'{PREFIX}GROUP_ALIASES must look like {{"/Service": "service"}}')
    # Provider values are compared case-insensitively, like the groups claim itself.
    return {key.strip().lower(): value.strip().lower() for key, value in parsed.items()}


def _token_auth(raw: str | None) -> TokenAuth:
    try:
        return TokenAuth((raw or TokenAuth.BASIC.value).strip().lower())
    except ValueError:
        raise SettingsError(
            f"{PREFIX}OIDC_TOKEN_AUTH must be one of " + ", ".join(m.value for m in TokenAuth)
        ) from None


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(f"{PREFIX}DEFAULT_TIMEZONE is not a known time zone") from exc
    return name


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _refuse_unsafe_production(get: Callable[[str], str | None]) -> None:
    """What production must not run with, even though each value is well-formed."""
    if get("REDIS_URL") is None:
        # Without Redis each process keeps its own sessions: a sign-out on one process would
        # leave the cookie valid on the others.
        raise SettingsError(
            f"{PREFIX}REDIS_URL must be set in production: sessions, sign-outs and rate "
            "limits must be shared by every process"
        )
    issuer = urlsplit(get("OIDC_ISSUER") or "")
    # Plain http is allowed only to a provider on this machine: the traffic never leaves it.
    if issuer.scheme != "https" and not (issuer.scheme == "http" and _is_loopback(issuer.hostname)):
        raise SettingsError(f"{PREFIX}OIDC_ISSUER must use https in production")
    if get("OIDC_CLIENT_ID") == Settings.oidc_client_id or (
        get("OIDC_CLIENT_SECRET") == Settings.oidc_client_secret
    ):
        raise SettingsError(
            f"{PREFIX}OIDC_CLIENT_ID and _CLIENT_SECRET must not be the development client's "
            "in production"
        )


def _trusted_proxies(get: Callable[[str], str | None]) -> tuple[str, ...]:
    if (get("TRUST_PROXY_HEADERS") or "false").lower() not in ("0", "false"):
        # It trusted the leftmost entry from any sender: name the proxies instead.
        raise SettingsError(
            f"{PREFIX}TRUST_PROXY_HEADERS is replaced by {PREFIX}TRUSTED_PROXIES: list the "
            "addresses (or networks) of the reverse proxies in front of Safe Share"
        )
    try:
        return tuple(
            str(ipaddress.ip_network(entry, strict=False))
            for entry in _split(get("TRUSTED_PROXIES") or "")
        )
    except ValueError as exc:
        raise SettingsError(
            f"{PREFIX}TRUSTED_PROXIES must list IP addresses or networks, like 10.0.0.0/8"
        ) from exc


def load_settings(
    env: Mapping[str, str] | None = None, dev_dir: Path = DEFAULT_DEV_DIR
) -> Settings:
    env = os.environ if env is None else env

    def get(name: str, default: str | None = None) -> str | None:
        value = env.get(PREFIX + name)
        return value if value not in (None, "") else default

    mode = get("ENV", "development")
    if mode not in ("development", "production"):
        raise SettingsError(f"{PREFIX}ENV must be 'development' or 'production'")
    production = mode == "production"

    database_url = get("DATABASE_URL")
    raw_keys = get("SECRET_KEY")
    issuer = get("OIDC_ISSUER")
    if production:
        missing = [
            name
            for name, value in (
                ("SECRET_KEY", raw_keys),
                ("DATABASE_URL", database_url),
                ("OIDC_ISSUER", issuer),
                ("OIDC_CLIENT_ID", get("OIDC_CLIENT_ID")),
                ("OIDC_CLIENT_SECRET", get("OIDC_CLIENT_SECRET")),
                ("BASE_URL", get("BASE_URL")),
            )
            if value is None
        ]
        if missing:
            raise SettingsError(
                "production refuses dev defaults; set " + ", ".join(PREFIX + m for m in missing)
            )

    keys = tuple(k.encode() for k in _split(raw_keys)) if raw_keys else (_dev_secret_key(dev_dir),)
    if production and any(len(k) < 32 for k in keys):
        raise SettingsError(f"{PREFIX}SECRET_KEY entries must be at least 32 characters")

    database_url = database_url or "sqlite:///safe_share.sqlite"
    if not database_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise SettingsError(f"{PREFIX}DATABASE_URL must start with sqlite:/// or postgresql://")
    if production and database_url.startswith("sqlite"):
        raise SettingsError(f"{PREFIX}DATABASE_URL must be PostgreSQL in production")

    if production:
        _refuse_unsafe_production(get)

    base_url = (get("BASE_URL", "http://127.0.0.1:8000") or "").rstrip("/")
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise SettingsError(f"{PREFIX}BASE_URL must be an http(s) URL")
    if production and not base_url.startswith("https://"):
        raise SettingsError(f"{PREFIX}BASE_URL must use https in production")

    issuer = (issuer or Settings.oidc_issuer).rstrip("/")
    client_secret = get("OIDC_CLIENT_SECRET", Settings.oidc_client_secret) or ""
    if production and len(client_secret) < 16:
        # HS256 ID tokens are signed with it: a short secret could be guessed offline.
        raise SettingsError(f"{PREFIX}OIDC_CLIENT_SECRET must be at least 16 characters")
    groups = _groups(get("GROUPS"))
    staff_group = get("STAFF_GROUP", "staff") or "staff"
    audit_group = get("AUDIT_GROUP", "auditors") or "auditors"
    aliases = _group_aliases(get("GROUP_ALIASES"))
    targets = {key.lower() for key in (*groups, staff_group, audit_group)}
    unknown = sorted(set(aliases.values()) - targets)
    if unknown:
        raise SettingsError(f"{PREFIX}GROUP_ALIASES maps to unknown groups: " + ", ".join(unknown))

    languages = _split(get("LANGUAGES", "en,nl,de") or "")
    return Settings(
        env=mode,
        database_url=database_url,
        redis_url=get("REDIS_URL"),
        secret_keys=keys,
        base_url=base_url,
        oidc_issuer=issuer,
        oidc_client_id=get("OIDC_CLIENT_ID", Settings.oidc_client_id) or "",
        oidc_client_secret=client_secret,
        oidc_scopes=_scopes(get("OIDC_SCOPES")),
        oidc_trust_email=_bool(env, "OIDC_TRUST_EMAIL", False),
        oidc_token_auth=_token_auth(get("OIDC_TOKEN_AUTH")),
        group_aliases=aliases,
        staff_domains=tuple(d.lower() for d in _split(get("STAFF_DOMAINS", "prowise.com") or "")),
        staff_group=staff_group,
        audit_group=audit_group,
        groups_claim=get("GROUPS_CLAIM", "groups") or "groups",
        groups=groups,
        languages=languages or ("en",),
        default_timezone=_timezone(get("DEFAULT_TIMEZONE", "Europe/Amsterdam") or ""),
        session_idle_seconds=_int(env, "SESSION_IDLE_SECONDS", 30 * 60, 60, 86400),
        session_absolute_seconds=_int(env, "SESSION_ABSOLUTE_SECONDS", 12 * 3600, 300, 30 * 86400),
        audit_retention_days=_int(env, "AUDIT_RETENTION_DAYS", 365, 1, 3650),
        max_file_bytes=_int(env, "MAX_FILE_BYTES", 25_000_000, 1, 2**31),
        sweep_interval_seconds=_int(env, "SWEEP_INTERVAL_SECONDS", 60, 1, 3600),
        body_timeout_seconds=_int(env, "BODY_TIMEOUT_SECONDS", 30, 1, 600),
        trusted_proxies=_trusted_proxies(get),
        rate_window_seconds=_int(env, "RATE_WINDOW_SECONDS", 60, 1, 3600),
        rate_reveal_per_secret=_int(env, "RATE_REVEAL_PER_SECRET", 10, 1, 1_000_000),
        rate_reveal_per_client=_int(env, "RATE_REVEAL_PER_CLIENT", 30, 1, 1_000_000),
        rate_guest_per_token=_int(env, "RATE_GUEST_PER_TOKEN", 5, 1, 1_000_000),
        rate_guest_per_client=_int(env, "RATE_GUEST_PER_CLIENT", 10, 1, 1_000_000),
        rate_signin_per_client=_int(env, "RATE_SIGNIN_PER_CLIENT", 20, 1, 1_000_000),
        rate_create_per_user=_int(env, "RATE_CREATE_PER_USER", 20, 1, 1_000_000),
    )
