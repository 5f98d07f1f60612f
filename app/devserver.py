"""`python tasks.py dev`: the app on embedded defaults, with a local identity provider.

SQLite in the working directory, the sweep inside the app, and a dev OIDC provider on port
8001 where you sign in as any email address you type.
"""

from __future__ import annotations

import asyncio
import logging
import os
from contextlib import nullcontext

import uvicorn

from app.db.engine import create_engine, migrate, start, stop
from app.dev_identity import parse_dev_groups, run_identity_provider
from app.settings import load_settings
from app.web.accesslog import AccessLogMiddleware
from app.web.app import create_app

DEV_IDP_PORT = 8001


async def apply_migrations(database_url: str) -> None:
    engine = create_engine(database_url)
    await start(engine)
    try:
        await migrate(engine)
    finally:
        await stop(engine)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    env = dict(os.environ)
    external_idp = bool(env.get("SAFE_SHARE_OIDC_ISSUER"))
    provider = (
        nullcontext("")
        if external_idp
        else run_identity_provider(
            port=DEV_IDP_PORT, dev_groups=parse_dev_groups(env.get("SAFE_SHARE_DEV_GROUPS", ""))
        )
    )
    with provider as issuer:
        if issuer:
            env["SAFE_SHARE_OIDC_ISSUER"] = issuer
        settings = load_settings(env)
        if settings.is_production:
            raise SystemExit("the dev command is for development only")
        asyncio.run(apply_migrations(settings.database_url))
        print(f"Safe Share: {settings.base_url}  (sign-in: {settings.oidc_issuer})", flush=True)
        # Our access log replaces uvicorn's, which would print secret ids and OIDC codes.
        uvicorn.run(
            AccessLogMiddleware(create_app(settings)),
            host="127.0.0.1",
            port=8000,
            log_level="info",
            access_log=False,
            # One mechanism for the client's address: the app's (SAFE_SHARE_TRUSTED_PROXIES).
            proxy_headers=False,
            loop="uvloop",
            http="httptools",
        )


if __name__ == "__main__":
    main()
