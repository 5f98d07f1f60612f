"""Production refuses, at start-up and with a clear message, settings that would quietly weaken
it: no shared session store, an identity provider over plain http, the dev client."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import SettingsError, load_settings

SAFE = {
    "SAFE_SHARE_ENV": "production",
    "SAFE_SHARE_SECRET_KEY": "k" * 40,
    "SAFE_SHARE_DATABASE_URL": "postgresql://db/safe",
    "SAFE_SHARE_REDIS_URL": "redis://redis:6379/0",
    "SAFE_SHARE_OIDC_ISSUER": "https://id.example.com",
    "SAFE_SHARE_OIDC_CLIENT_ID": "safe-share",
    "SAFE_SHARE_OIDC_CLIENT_SECRET": "a-real-client-secret",
    "SAFE_SHARE_BASE_URL": "https://share.example.com",
}


def test_production_starts_with_safe_settings(tmp_path: Path) -> None:
    settings = load_settings(SAFE, dev_dir=tmp_path)
    assert settings.is_production
    assert settings.redis_url == "redis://redis:6379/0"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("REDIS_URL", "", "SAFE_SHARE_REDIS_URL"),
        ("OIDC_ISSUER", "http://id.example.com", "https"),
        ("OIDC_ISSUER", "ftp://id.example.com", "https"),
        ("OIDC_ISSUER", "http://10.0.0.5:8001", "https"),
        ("OIDC_CLIENT_ID", "safe-share-dev", "development client"),
        ("OIDC_CLIENT_SECRET", "safe-share-dev-secret", "development client"),
    ],
)
def test_production_refuses_unsafe_settings_with_a_clear_message(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings({**SAFE, f"SAFE_SHARE_{name}": value}, dev_dir=tmp_path)


def test_production_allows_plain_http_only_to_a_provider_on_this_machine(tmp_path: Path) -> None:
    for issuer in ("http://127.0.0.1:8001", "http://localhost:8001", "http://[::1]:8001"):
        settings = load_settings({**SAFE, "SAFE_SHARE_OIDC_ISSUER": issuer}, dev_dir=tmp_path)
        assert settings.oidc_issuer == issuer


def test_development_keeps_its_defaults(tmp_path: Path) -> None:
    settings = load_settings({}, dev_dir=tmp_path)
    assert settings.redis_url is None
    assert settings.oidc_issuer.startswith("http://")
