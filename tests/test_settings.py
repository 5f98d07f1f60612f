from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import SettingsError, TokenAuth, load_settings


def test_embedded_defaults_need_no_configuration(tmp_path: Path) -> None:
    settings = load_settings({}, dev_dir=tmp_path)
    assert settings.database_url.startswith("sqlite:///")
    assert settings.redis_url is None
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.staff_domains == ("prowise.com",)
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    # the generated dev key is stable across restarts
    assert load_settings({}, dev_dir=tmp_path).secret_keys == settings.secret_keys


def test_production_refuses_dev_defaults(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        load_settings({"SAFE_SHARE_ENV": "production"}, dev_dir=tmp_path)
    assert not (tmp_path / "secret_key").exists()


def test_production_refuses_sqlite_and_short_keys(tmp_path: Path) -> None:
    env = {
        "SAFE_SHARE_ENV": "production",
        "SAFE_SHARE_SECRET_KEY": "k" * 40,
        "SAFE_SHARE_DATABASE_URL": "sqlite:///x.sqlite",
        "SAFE_SHARE_REDIS_URL": "redis://redis:6379/0",
        "SAFE_SHARE_OIDC_ISSUER": "https://id.example.com",
        "SAFE_SHARE_OIDC_CLIENT_ID": "c",
        "SAFE_SHARE_OIDC_CLIENT_SECRET": "s" * 20,
        "SAFE_SHARE_BASE_URL": "https://share.example.com",
    }
    with pytest.raises(SettingsError, match="PostgreSQL"):
        load_settings(env, dev_dir=tmp_path)
    env["SAFE_SHARE_DATABASE_URL"] = "postgresql://db/safe"
    env["SAFE_SHARE_SECRET_KEY"] = "short"
    with pytest.raises(SettingsError, match="32"):
        load_settings(env, dev_dir=tmp_path)
    env["SAFE_SHARE_SECRET_KEY"] = "n" * 40 + "," + "o" * 40
    settings = load_settings(env, dev_dir=tmp_path)
    assert settings.secret_keys == (b"n" * 40, b"o" * 40)
    assert settings.secure_cookies


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ENV", "staging"),
        ("DATABASE_URL", "mysql://x"),
        ("BASE_URL", "ftp://x"),
        ("GROUPS", "not json"),
        ("GROUPS", '{"service": {"nl": "Service"}}'),
        ("SESSION_IDLE_SECONDS", "abc"),
        ("DEFAULT_TIMEZONE", "Mars/Olympus"),
        ("OIDC_SCOPES", "email profile"),
        ("OIDC_SCOPES", 'openid "groups"'),
        ("OIDC_TRUST_EMAIL", "maybe"),
        ("OIDC_TOKEN_AUTH", "private_key_jwt"),
        ("GROUP_ALIASES", "not json"),
        ("GROUP_ALIASES", '{"/Service": 1}'),
        ("GROUP_ALIASES", '{"/Admins": "admins"}'),
    ],
)
def test_invalid_values_are_refused_with_the_variable_named(
    tmp_path: Path, name: str, value: str
) -> None:
    with pytest.raises(SettingsError, match=name.split("_", maxsplit=1)[0]):
        load_settings({f"SAFE_SHARE_{name}": value}, dev_dir=tmp_path)


def test_groups_are_configuration(tmp_path: Path) -> None:
    settings = load_settings(
        {"SAFE_SHARE_GROUPS": '{"support": {"en": "Support", "de": "Kundendienst"}}'},
        dev_dir=tmp_path,
    )
    assert list(settings.groups) == ["support"]


def test_provider_settings_have_safe_defaults(tmp_path: Path) -> None:
    settings = load_settings({}, dev_dir=tmp_path)
    assert settings.oidc_scopes == ("openid", "email", "profile")
    assert settings.oidc_trust_email is False
    assert settings.oidc_token_auth is TokenAuth.BASIC
    assert settings.group_aliases == {}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("True", True), ("1", True), ("false", False), ("", False)],
)
def test_trust_email_reads_booleans_and_their_strings(
    tmp_path: Path, raw: str, expected: bool
) -> None:
    settings = load_settings({"SAFE_SHARE_OIDC_TRUST_EMAIL": raw}, dev_dir=tmp_path)
    assert settings.oidc_trust_email is expected


def test_provider_settings_are_read(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "SAFE_SHARE_OIDC_SCOPES": "openid email profile groups",
            "SAFE_SHARE_OIDC_TOKEN_AUTH": "client_secret_post",
            "SAFE_SHARE_GROUP_ALIASES": (
                '{"/Service": "service", "0F3A-Entra": "Inside-Sales", "/Staff": "staff",'
                ' "/Audit": "auditors"}'
            ),
        },
        dev_dir=tmp_path,
    )
    assert settings.oidc_scopes == ("openid", "email", "profile", "groups")
    assert settings.oidc_token_auth is TokenAuth.POST
    assert settings.group_aliases == {
        "/service": "service",
        "0f3a-entra": "inside-sales",
        "/staff": "staff",
        "/audit": "auditors",
    }


def test_production_refuses_a_short_client_secret(tmp_path: Path) -> None:
    env = {
        "SAFE_SHARE_ENV": "production",
        "SAFE_SHARE_SECRET_KEY": "k" * 40,
        "SAFE_SHARE_DATABASE_URL": "postgresql://db/safe",
        "SAFE_SHARE_OIDC_ISSUER": "https://id.example.com",
        "SAFE_SHARE_OIDC_CLIENT_ID": "safe-share",
        "SAFE_SHARE_OIDC_CLIENT_SECRET": "short",
        "SAFE_SHARE_REDIS_URL": "redis://redis:6379/0",
        "SAFE_SHARE_BASE_URL": "https://share.example.com",
    }
    # HS256 ID tokens are signed with it: a short one could be guessed offline.
    with pytest.raises(SettingsError, match="OIDC_CLIENT_SECRET"):
        load_settings(env, dev_dir=tmp_path)
