"""The arq worker: the expiry sweep as a cron job every minute.

Run it with `python -m app.worker` (settings are read at start, not at import). With `--burst`
it runs the jobs already queued and exits (tests; one-off runs from a scheduler).
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from arq import cron
from arq.connections import RedisSettings
from arq.worker import run_worker

from app.db.engine import create_engine, start, stop
from app.services.sweeper import SweepResult, sweep
from app.settings import Settings, load_settings


async def sweep_job(ctx: dict[str, Any]) -> dict[str, int]:
    settings: Settings = ctx["settings"]
    result: SweepResult = await sweep(
        datetime.now(UTC), timedelta(days=settings.audit_retention_days)
    )
    return {
        "secrets_expired": result.secrets_expired,
        "invitations_expired": result.invitations_expired,
        "audit_rows_pruned": result.audit_rows_pruned,
    }


async def on_startup(ctx: dict[str, Any]) -> None:
    settings = ctx.get("settings") or load_settings()
    ctx["settings"] = settings
    ctx["engine"] = create_engine(settings.database_url)
    await start(ctx["engine"])


async def on_shutdown(ctx: dict[str, Any]) -> None:
    if "engine" in ctx:
        await stop(ctx["engine"])


class WorkerSettings:
    functions = (sweep_job,)
    # unique: with two workers, arq runs each minute's sweep once (the sweep is safe twice anyway)
    cron_jobs = (cron(sweep_job, second=0, unique=True, timeout=50),)
    on_startup = on_startup
    on_shutdown = on_shutdown
    max_jobs = 2
    health_check_interval = 30


def redis_settings(settings: Settings) -> RedisSettings:
    if not settings.redis_url:
        raise SystemExit("SAFE_SHARE_REDIS_URL is not set: the app runs the sweep itself")
    return RedisSettings.from_dsn(settings.redis_url)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app.worker", description=__doc__)
    parser.add_argument("--burst", action="store_true", help="run queued jobs, then exit")
    parser.add_argument("--queue", default=None, help="the arq queue name (default: arq's)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = load_settings()
    options: dict[str, Any] = {"burst": True} if args.burst else {}
    if args.queue:
        options["queue_name"] = args.queue
    run_worker(
        WorkerSettings,  # type: ignore[arg-type]  # arq's settings are a plain class by design
        redis_settings=redis_settings(settings),
        ctx={"settings": settings},
        **options,
    )


if __name__ == "__main__":
    main()
