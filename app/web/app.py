"""The application factory: settings, database, sessions, templates and routes, wired once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from jinja2 import Environment
from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.template.config import TemplateConfig

from app import crypto, i18n
from app.auth.oidc import OidcClient
from app.db.engine import create_engine, start, stop
from app.services.sweeper import sweep
from app.settings import PROJECT_ROOT, Settings, load_settings
from app.web.controllers.auth import AuthController
from app.web.controllers.pages import PageController
from app.web.controllers.secrets import SecretController
from app.web.dependencies import DEPENDENCIES, Clock, utc_now
from app.web.middleware import (
    LanguageMiddleware,
    RequestContextMiddleware,
    security_headers_hook,
)
from app.web.responses import handle_http_exception, handle_server_error
from app.web.sessions import SessionManager
from app.web.static import StaticFiles, serve_static

logger = logging.getLogger("app")

# Large enough for 10,000 four-byte characters, percent-encoded, plus the other fields.
MAX_BODY_BYTES = 160_000


def make_store(settings: Settings) -> Store:
    if settings.redis_url:
        return RedisStore.with_client(url=settings.redis_url, namespace="safe_share")
    return MemoryStore()


def configure_templates(env: Environment, static_files: StaticFiles, settings: Settings) -> None:
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=i18n.translate, ngettext=i18n.translate_plural, newstyle=True
    )
    env.globals.update(
        static_url=static_files.url,
        format_time=i18n.format_time,
        format_relative=i18n.format_relative,
        language_name=i18n.language_name,
        group_name=lambda key: i18n.group_display_name(settings.groups.get(key, {"en": key})),
        settings=settings,
    )


async def run_sweeper_in_process(settings: Settings, clock: Clock) -> None:
    """Without Redis there is no arq worker, so the app sweeps on a timer itself."""
    retention = timedelta(days=settings.audit_retention_days)
    while True:
        try:
            await sweep(clock(), retention)
        except Exception as exc:
            logger.warning("in-process sweep failed: %s", type(exc).__name__)
        await asyncio.sleep(settings.sweep_interval_seconds)


def create_app(settings: Settings | None = None, clock: Clock = utc_now) -> Litestar:
    settings = settings or load_settings()
    i18n.load_catalogues(settings.languages)
    engine = create_engine(settings.database_url)
    static_files = StaticFiles()
    sessions = SessionManager(make_store(settings), settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await start(engine)
        sweeper = (
            None
            if settings.redis_url
            else asyncio.create_task(run_sweeper_in_process(settings, clock))
        )
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            await stop(engine)

    csrf = CSRFConfig(
        secret=crypto.derive_key(settings.secret_keys[0], "csrf").hex(),
        cookie_name="safe_share_csrf",
        cookie_secure=settings.secure_cookies,
        cookie_httponly=True,
        cookie_samesite="lax",
        header_name="x-csrftoken",
    )
    templates = TemplateConfig(
        directory=PROJECT_ROOT / "templates",
        engine=JinjaTemplateEngine,
        engine_callback=lambda jinja: configure_templates(jinja.engine, static_files, settings),
    )
    state: dict[str, Any] = {
        "settings": settings,
        "clock": clock,
        "engine": engine,
        "static_files": static_files,
        "sessions": sessions,
        "oidc": OidcClient(settings),
    }
    app = Litestar(
        route_handlers=[PageController, SecretController, AuthController, serve_static],
        dependencies=DEPENDENCIES,
        middleware=[
            DefineMiddleware(RequestContextMiddleware, settings=settings, sessions=sessions)
        ],
        csrf_config=csrf,
        before_send=[security_headers_hook(settings)],
        template_config=templates,
        exception_handlers={HTTPException: handle_http_exception, Exception: handle_server_error},
        lifespan=[lifespan],
        state=State(state),
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=None,
        debug=False,
    )
    # Route middleware never sees an address that matches no route: wrap the whole handler
    # so that 404 page is in the visitor's language too.
    app.asgi_handler = LanguageMiddleware(app.asgi_handler, settings)
    return app
