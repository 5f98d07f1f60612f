"""A local identity provider for development and tests: the real OIDC protocol, any email.

Wraps the PyPI package oidc-provider-mock. A name typed at its sign-in page becomes a verified
email address; groups for dev users come from SAFE_SHARE_DEV_GROUPS, e.g.
`alice@prowise.com=service+auditors;carol@prowise.com=go-engineers`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import werkzeug.serving
from flask import Flask, request
from oidc_provider_mock import User, init_app
from oidc_provider_mock import _app as mock_app
from oidc_provider_mock._storage import storage


def parse_dev_groups(raw: str) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for entry in raw.split(";"):
        email, _sep, names = entry.partition("=")
        if email.strip() and names.strip():
            groups[email.strip().lower()] = [n.strip() for n in names.split("+") if n.strip()]
    return groups


def make_identity_app(dev_groups: Mapping[str, list[str]] | None = None) -> Flask:
    # The mock's blueprint renders its sign-in form from the package's templates folder,
    # which Flask only finds when the app is rooted in that package.
    app = Flask(mock_app.__name__)
    app.secret_key = b"dev-only"
    init_app(app, require_nonce=True)
    groups = dict(dev_groups or {})

    @app.before_request
    def verified_email_for_new_users() -> None:
        # The mock gives a typed name only {"email": name}; make it a verified dev account.
        if request.method == "POST" and request.path == "/oauth2/authorize":
            sub = (request.form.get("sub") or "").strip().lower()
            if sub and storage.get_user(sub) is None:
                claims: dict[str, Any] = {
                    "email": sub,
                    "email_verified": True,
                    "name": sub.split("@")[0].title(),
                    "groups": groups.get(sub, []),
                }
                storage.store_user(User(sub=sub, claims=claims))

    return app


@contextmanager
def run_identity_provider(
    port: int = 0, host: str = "127.0.0.1", dev_groups: Mapping[str, list[str]] | None = None
) -> Iterator[str]:
    """Serve the provider in a thread; yields its issuer URL."""
    server = werkzeug.serving.make_server(host, port, make_identity_app(dev_groups), threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
