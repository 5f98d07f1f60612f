"""The dev identity provider's sign-in page: what a person sees in `tasks.py dev` and browser tests."""

from __future__ import annotations

import httpx

from app.dev_identity import run_identity_provider


def test_dev_provider_shows_its_sign_in_form() -> None:
    with run_identity_provider(port=0) as issuer:
        page = httpx.get(
            f"{issuer}/oauth2/authorize",
            params={
                "response_type": "code",
                "client_id": "safe-share-dev",
                "redirect_uri": "http://127.0.0.1:8000/auth/callback",
                "scope": "openid email",
                "state": "s",
                "nonce": "n",
            },
        )
    assert page.status_code == 200, page.text[:500]
    assert 'name="sub"' in page.text
