"""The application factory: settings, database, sessions, templates and routes, wired once."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from jinja2 import Environment, FileSystemLoader
from litestar import Litestar
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.routes import HTTPRoute
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.template.config import TemplateConfig
from litestar.types import ASGIApp

from app import crypto, i18n
from app.auth.oidc import OidcClient
from app.db.engine import create_engine, start, stop
from app.services.sweeper import sweep
from app.settings import PROJECT_ROOT, Settings, load_settings
from app.web.accesslog import AccessLogMiddleware, LineFormatter
from app.web.clientbody import ClientBodyMiddleware
from app.web.controllers.audit import AuditController
from app.web.controllers.auth import AuthController
from app.web.controllers.dashboard import DashboardController
from app.web.controllers.invitations import InvitationController
from app.web.controllers.pages import PageController
from app.web.controllers.secrets import SecretController
from app.web.csrf import CsrfTokens
from app.web.dependencies import DEPENDENCIES, Clock, utc_now
from app.web.errors import EXCEPTION_HANDLERS
from app.web.guards import required_access
from app.web.labels import TEMPLATE_HELPERS
from app.web.middleware import (
    OuterMiddleware,
    RequestMiddleware,
    security_headers_adder,
)
from app.web.ratelimit import MemoryCounter, RateLimiter, RedisCounter
from app.web.sessions import SessionManager
from app.web.static import StaticFiles, serve_static
from app.web.stores import make_redis, make_store
from app.web.templates import make_environment

logger = logging.getLogger("app")


def quiet_noisy_loggers() -> None:
    # httpx logs every request URL at INFO (OIDC URLs included); authlib logs PKCE at DEBUG.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("authlib").setLevel(logging.INFO)


# Large enough for 10,000 four-byte characters, percent-encoded, plus the other fields.
MAX_BODY_BYTES = 160_000


def configure_templates(env: Environment, static_files: StaticFiles, settings: Settings) -> None:
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=i18n.translate, ngettext=i18n.translate_plural, newstyle=True
    )
    env.globals.update(
        static_url=static_files.url,
        format_time=i18n.format_time,
        format_relative=i18n.format_relative,
        format_size=i18n.format_size,
        b64u=crypto.b64u_encode,
        language_name=i18n.language_name,
        group_name=lambda key: i18n.group_display_name(settings.groups.get(key, {"en": key})),
        settings=settings,
        **TEMPLATE_HELPERS,
    )


async def run_sweeper_in_process(settings: Settings, clock: Clock, store: Store) -> None:
    """Without Redis there is no arq worker, so the app sweeps on a timer itself."""
    retention = timedelta(days=settings.audit_retention_days)
    while True:
        try:
            await sweep(clock(), retention)
            if isinstance(store, MemoryStore):
                await store.delete_expired()  # abandoned sign-ins and idle sessions
        except Exception as exc:
            logger.warning("in-process sweep failed: %s", type(exc).__name__)
        await asyncio.sleep(settings.sweep_interval_seconds)


def create_app(settings: Settings | None = None, clock: Clock = utc_now) -> Litestar:
    settings = settings or load_settings()
    quiet_noisy_loggers()
    i18n.load_catalogues(settings.languages)
    engine = create_engine(settings.database_url)
    static_files = StaticFiles()
    redis = make_redis(settings.redis_url) if settings.redis_url else None
    sessions = SessionManager(make_store(settings, redis), settings, clock, redis)
    counter = RedisCounter(redis, MemoryCounter()) if redis is not None else MemoryCounter()
    oidc = OidcClient(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await start(engine)
        # Discovery early, so even this process's first page allows sign-out's redirect (CSP).
        discovery = asyncio.create_task(oidc.prefetch())
        sweeper = (
            None
            if settings.redis_url
            else asyncio.create_task(run_sweeper_in_process(settings, clock, sessions.store))
        )
        listener = asyncio.create_task(sessions.cache.listen(redis)) if redis else None
        try:
            yield
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
            discovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await discovery
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            if isinstance(counter, RedisCounter):
                await counter.aclose()
            if redis is not None:
                await redis.aclose()
            await stop(engine)

    csrf = CsrfTokens.for_settings(settings)
    # Checking every template file's modification time on each render only helps while editing.
    jinja = make_environment(
        FileSystemLoader(PROJECT_ROOT / "templates"), auto_reload=settings.env == "development"
    )
    configure_templates(jinja, static_files, settings)
    templates = TemplateConfig(instance=JinjaTemplateEngine(engine_instance=jinja))
    state: dict[str, Any] = {
        "settings": settings,
        "clock": clock,
        "engine": engine,
        "static_files": static_files,
        "sessions": sessions,
        "oidc": oidc,
        "rate_counter": counter,
        "csrf": csrf,  # for the streamed form reader (app.web.upload)
    }
    app = Litestar(
        route_handlers=[
            PageController,
            SecretController,
            InvitationController,
            DashboardController,
            AuditController,
            AuthController,
            serve_static,
        ],
        dependencies=DEPENDENCIES,
        middleware=[
            DefineMiddleware(
                RequestMiddleware,
                settings=settings,
                sessions=sessions,
                limiter=RateLimiter(settings, counter, clock),
                csrf=csrf,
                max_body_bytes=MAX_BODY_BYTES,
            )
        ],
        # request.htmx in handlers (HTMXRequest), instead of reading HX-Request by hand.
        plugins=[HTMXPlugin()],
        template_config=templates,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        state=State(state),
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=None,
        debug=False,
    )
    for route in app.routes:
        handlers = route.route_handlers if isinstance(route, HTTPRoute) else [route.route_handler]
        for handler in handlers:
            required_access(handler)  # a wrong declaration fails here, at start, not per request
    # Route middleware never sees an address that matches no route: wrap the whole handler
    # so that 404 page is in the visitor's language too.
    app.asgi_handler = OuterMiddleware(
        ClientBodyMiddleware(app.asgi_handler, settings.body_timeout_seconds),
        settings,
        security_headers_adder(settings, lambda: oidc.form_action_origins),
    )
    return app


def create_served_app() -> ASGIApp:
    """What uvicorn serves (`--factory app.web.app:create_served_app --no-access-log`): the app
    inside our access log, which redacts ids and tokens that uvicorn's would print in full."""
    # uvicorn configures only its own loggers; ours (the access log included) go to stderr.
    log_format = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.INFO, format=log_format)
    # One line per request, written straight to stderr: Litestar's root handler hands every
    # record to a listener thread, and that hand-off (a lock and a thread switch per request)
    # cost more than the page itself under load.
    access = logging.StreamHandler()
    access.setFormatter(LineFormatter(log_format))
    access_logger = logging.getLogger("app.access")
    access_logger.addHandler(access)
    access_logger.propagate = False
    # No caller lookup (a walk up the stack per record), nor thread and process names: no
    # format here prints file, line, thread or process.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    served = AccessLogMiddleware(create_app())
    # What exists now (modules, routes, the app) lives as long as the process: out of the
    # collector's sight, a full collection under load walks a fraction of the heap and pauses
    # requests for that much less.
    gc.collect()
    gc.freeze()
    return served
