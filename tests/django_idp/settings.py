"""Django settings of the test identity provider; the issuer comes from DJANGO_IDP_ISSUER."""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECRET_KEY = "django-idp-test-only-" + "x" * 40
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
SITE_URL = os.environ.get("DJANGO_IDP_ISSUER", "http://127.0.0.1:8002")
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oidc_provider",
]
MIDDLEWARE = [
    "tests.django_idp.control.ControlMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "tests.django_idp.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [HERE / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_IDP_DB", str(HERE / "idp.sqlite")),
    }
}
USE_TZ = True
LOGIN_URL = "/accounts/login/"
# Each Chromium profile is its own browser: no shared cookies to worry about.
SESSION_COOKIE_NAME = "django_idp_session"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; test users only
OIDC_USERINFO = "tests.django_idp.control.userinfo"
OIDC_EXTRA_SCOPE_CLAIMS = "tests.django_idp.control.GroupsScopeClaims"
OIDC_IDTOKEN_PROCESSING_HOOK = "tests.django_idp.control.id_token_hook"
OIDC_IDTOKEN_INCLUDE_CLAIMS = False
OIDC_DISCOVERY_CACHE_ENABLE = False
OIDC_SKIP_CONSENT_EXPIRE = 1
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING = {"version": 1, "disable_existing_loggers": False}
