"""The test provider's per-case configuration, held in this (single) process.

`POST /_test/configure` with JSON replaces it: the client (id, secret, HS256 or RS256, redirect
URIs), the users and their claims, where groups are released (under a `groups` scope, or only
in the ID token), whether discovery lists userinfo and end-session (on this origin or another),
key rotation, and outages (every path, or chosen paths, answer 502 like a proxy in front of a
dead provider). `GET /_test/state` tells how the client last authenticated at the token endpoint.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from oidc_provider.lib.claims import ScopeClaims
from oidc_provider.models import Client, ResponseType, RSAKey
from oidc_provider.views import ProviderInfoView

DEFAULTS: dict[str, Any] = {
    "users": {},
    "groups_where": "scope",  # "scope": userinfo (and ID token claims) under `groups`; "id_token"
    "userinfo": True,
    "end_session": "same",  # "same" origin as the issuer, "other" origin, or "absent"
    "down": False,
    "down_paths": [],
    "down_after_code": False,
    "authorize_at": "",  # another authorization endpoint for discovery to announce
}
CONFIG: dict[str, Any] = dict(DEFAULTS)
STATE: dict[str, Any] = {"token_auth": ""}


def _claims_of(user: Any) -> dict[str, Any]:
    entry = CONFIG["users"].get(user.username, {})
    claims: dict[str, Any] = entry.get("claims", {})
    return claims


def userinfo(claims: dict[str, Any], user: Any) -> dict[str, Any]:
    """OIDC_USERINFO: the standard claims of this user, as configured (absent stays absent)."""
    for name, value in _claims_of(user).items():
        if name in claims:
            claims[name] = value
    return claims


class GroupsScopeClaims(ScopeClaims):  # type: ignore[misc]
    """Groups are released only under a `groups` scope, as Keycloak and Okta do."""

    info_groups = ("Groups", "The groups you belong to.")

    def scope_groups(self) -> dict[str, Any]:
        if CONFIG["groups_where"] != "scope":
            return {}
        return {"groups": _claims_of(self.user).get("groups")}


def id_token_hook(id_token: dict[str, Any], user: Any, **_: Any) -> dict[str, Any]:
    if CONFIG["groups_where"] == "id_token":
        id_token["groups"] = _claims_of(user).get("groups", [])
    return id_token


def _rotate_keys() -> None:
    old = list(RSAKey.objects.values_list("id", flat=True))
    call_command("creatersakey")
    RSAKey.objects.filter(id__in=old).delete()


@csrf_exempt  # type: ignore[untyped-decorator]
def configure(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body or b"{}")
    CONFIG.clear()
    CONFIG.update(DEFAULTS, **{k: v for k, v in body.items() if k in DEFAULTS})
    settings.OIDC_IDTOKEN_INCLUDE_CLAIMS = bool(body.get("claims_in_id_token", False))
    STATE["token_auth"] = ""
    if not RSAKey.objects.exists() or body.get("rotate_keys"):
        _rotate_keys()
    client = body.get("client")
    if client:
        code, _ = ResponseType.objects.get_or_create(
            value="code", defaults={"description": "code (Authorization Code Flow)"}
        )
        row, _ = Client.objects.update_or_create(
            client_id=client["id"],
            defaults={
                "name": "Safe Share",
                "client_type": "confidential",
                "client_secret": client["secret"],
                "jwt_alg": client.get("jwt_alg", "RS256"),
                "require_consent": False,
                "reuse_consent": True,
            },
        )
        row.redirect_uris = client["redirect_uris"]
        row.post_logout_redirect_uris = client.get("post_logout_redirect_uris", [])
        row.save()
        row.response_types.set([code])
    users = get_user_model()
    for username, entry in CONFIG["users"].items():
        user, _ = users.objects.get_or_create(username=username)
        user.email = ""  # only the configured claims speak
        user.set_password(entry["password"])
        user.save()
    kid = RSAKey.objects.values_list("id", flat=True).first()
    return JsonResponse({"ok": True, "key": kid})


def state(request: HttpRequest) -> JsonResponse:
    return JsonResponse(STATE)


def discovery(request: HttpRequest) -> HttpResponse:
    response = ProviderInfoView.as_view()(request)
    data = json.loads(response.content)
    if CONFIG["authorize_at"]:
        data["authorization_endpoint"] = CONFIG["authorize_at"]
    if not CONFIG["userinfo"]:
        data.pop("userinfo_endpoint", None)
    if CONFIG["end_session"] == "absent":
        data.pop("end_session_endpoint", None)
    elif CONFIG["end_session"] == "other":
        # Same server, another origin (localhost vs 127.0.0.1), as with a separate logout host.
        data["end_session_endpoint"] = data["end_session_endpoint"].replace(
            "//127.0.0.1:", "//localhost:"
        )
    return JsonResponse(data)


def _basic_per_rfc6749(request: HttpRequest) -> None:
    """RFC 6749 §2.3.1: id and secret are form-encoded inside Basic; decode them that way
    (the package itself skips this step) and hand them on as form fields."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("Basic "):
        return
    try:
        pair = base64.b64decode(header[6:], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return
    client_id, _sep, secret = pair.partition(":")
    form = request.POST.copy()
    form["client_id"], form["client_secret"] = unquote_plus(client_id), unquote_plus(secret)
    request.POST = form
    del request.META["HTTP_AUTHORIZATION"]
    STATE["token_auth"] = "client_secret_basic"


class ControlMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path.rstrip("/")
        if not path.startswith("/_test"):
            if CONFIG["down"] or path in CONFIG["down_paths"]:
                return HttpResponse("Bad Gateway", status=502)
            if path == "/token":
                if request.POST.get("client_secret"):
                    STATE["token_auth"] = "client_secret_post"
                _basic_per_rfc6749(request)
        response = self.get_response(request)
        location = response.get("Location", "")
        if path == "/authorize" and "code=" in location and CONFIG["down_after_code"]:
            CONFIG["down"] = True
        return response
