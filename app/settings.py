"""Settings: read from the environment once, validated, then injected.

Nothing else reads os.environ.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    groups: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: DEFAULT_GROUPS)
    languages: tuple[str, ...] = ("en", "nl", "de")
    default_timezone: str = "Europe/Amsterdam"
    session_idle_seconds: int = 30 * 60
    session_absolute_seconds: int = 12 * 3600
    audit_retention_days: int = 365
    max_secret_chars: int = 10_000
    max_file_bytes: int = 25_000_000
    sweep_interval_seconds: int = 60
    trust_proxy_headers: bool = False
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


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(f"{PREFIX}DEFAULT_TIMEZONE is not a known time zone") from exc
    return name


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

    base_url = (get("BASE_URL", "http://127.0.0.1:8000") or "").rstrip("/")
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise SettingsError(f"{PREFIX}BASE_URL must be an http(s) URL")
    if production and not base_url.startswith("https://"):
        raise SettingsError(f"{PREFIX}BASE_URL must use https in production")

    languages = _split(get("LANGUAGES", "en,nl,de") or "")
    return Settings(
        env=mode,
        database_url=database_url,
        redis_url=get("REDIS_URL"),
        secret_keys=keys,
        base_url=base_url,
        oidc_issuer=(issuer or Settings.oidc_issuer).rstrip("/"),
        oidc_client_id=get("OIDC_CLIENT_ID", Settings.oidc_client_id) or "",
        oidc_client_secret=get("OIDC_CLIENT_SECRET", Settings.oidc_client_secret) or "",
        staff_domains=tuple(d.lower() for d in _split(get("STAFF_DOMAINS", "prowise.com") or "")),
        staff_group=get("STAFF_GROUP", "staff") or "staff",
        audit_group=get("AUDIT_GROUP", "auditors") or "auditors",
        groups_claim=get("GROUPS_CLAIM", "groups") or "groups",
        groups=_groups(get("GROUPS")),
        languages=languages or ("en",),
        default_timezone=_timezone(get("DEFAULT_TIMEZONE", "Europe/Amsterdam") or ""),
        session_idle_seconds=_int(env, "SESSION_IDLE_SECONDS", 30 * 60, 60, 86400),
        session_absolute_seconds=_int(env, "SESSION_ABSOLUTE_SECONDS", 12 * 3600, 300, 30 * 86400),
        audit_retention_days=_int(env, "AUDIT_RETENTION_DAYS", 365, 1, 3650),
        max_file_bytes=_int(env, "MAX_FILE_BYTES", 25_000_000, 1, 2**31),
        sweep_interval_seconds=_int(env, "SWEEP_INTERVAL_SECONDS", 60, 1, 3600),
        trust_proxy_headers=(get("TRUST_PROXY_HEADERS", "false") or "").lower() in ("1", "true"),
        rate_window_seconds=_int(env, "RATE_WINDOW_SECONDS", 60, 1, 3600),
        rate_reveal_per_secret=_int(env, "RATE_REVEAL_PER_SECRET", 10, 1, 1_000_000),
        rate_reveal_per_client=_int(env, "RATE_REVEAL_PER_CLIENT", 30, 1, 1_000_000),
        rate_guest_per_token=_int(env, "RATE_GUEST_PER_TOKEN", 5, 1, 1_000_000),
        rate_guest_per_client=_int(env, "RATE_GUEST_PER_CLIENT", 10, 1, 1_000_000),
        rate_signin_per_client=_int(env, "RATE_SIGNIN_PER_CLIENT", 20, 1, 1_000_000),
        rate_create_per_user=_int(env, "RATE_CREATE_PER_USER", 20, 1, 1_000_000),
    )
