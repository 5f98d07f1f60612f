"""Soak test: minutes of mixed create/reveal at a steady rate against a real uvicorn process.

Not part of the test suite (it runs for minutes). It starts the local identity provider in a
thread and the app under uvicorn in a subprocess (our access log, as production serves it),
signs in a staff member and a customer through the real OIDC flow, then for `--minutes`:
creates one-view secrets at `--rate` per second, reveals each one a little later, re-reveals
some (must be 404), tries a wrong key on some (must be 400 and spend nothing). At the end it
reveals what is left and checks in the database that every created secret was revealed exactly
once (one `secret.revealed` audit row, state `opened`) or expired. It reports the app process's
resident memory at start and end, latencies and every unexpected answer.

    python -m benchmarks.soak                          # 10 minutes, 5 creates/s, fresh SQLite
    python -m benchmarks.soak --minutes 3 --rate 8
    python -m benchmarks.soak --database-url postgresql://postgres@127.0.0.1/soak --redis-url redis://127.0.0.1:6379/13

With --database-url the database must exist (it is migrated and its tables are emptied first).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.db.engine import create_engine, migrate, start, stop
from app.db.tables import TABLES, AuditEvent, Secret
from benchmarks.appserver import csrf, peak_rss, reset_peak, rss, served_app

LINK = re.compile(r"/s/([A-Za-z0-9_-]+)#([A-Za-z0-9_-]{43})")


@dataclass
class Stats:
    created: dict[str, str] = field(default_factory=dict)  # id -> key
    revealed: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)

    def timed(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds * 1000)


async def create(staff: httpx.AsyncClient, stats: Stats, queue: asyncio.Queue[str]) -> None:
    began = time.perf_counter()
    try:
        response = await staff.post(
            "/secrets",
            data={
                "content": f"soak {random.random()}",
                "recipient_email": "bob@example.com",
                "expires_in": "3600",
                "max_views": "1",
            },
            headers=csrf(staff),
        )
    except httpx.HTTPError as exc:
        stats.errors.append(f"create: {type(exc).__name__}")
        return
    stats.timed("create", time.perf_counter() - began)
    stats.statuses[f"create {response.status_code}"] += 1
    match = LINK.search(response.text)
    if response.status_code != 200 or match is None:
        stats.errors.append(f"create: {response.status_code}")
        return
    stats.created[match.group(1)] = match.group(2)
    await queue.put(match.group(1))


async def reveal(
    customer: httpx.AsyncClient, stats: Stats, secret_id: str, key: str, expect: int
) -> None:
    began = time.perf_counter()
    try:
        response = await customer.post(
            f"/s/{secret_id}/reveal", data={"key": key}, headers=csrf(customer)
        )
    except httpx.HTTPError as exc:
        stats.errors.append(f"reveal: {type(exc).__name__}")
        return
    stats.timed("reveal", time.perf_counter() - began)
    stats.statuses[f"reveal {response.status_code}"] += 1
    if response.status_code == 200:
        stats.revealed[secret_id] += 1
    if response.status_code != expect:
        stats.errors.append(f"reveal: {response.status_code}, expected {expect}")


async def reveal_one(customer: httpx.AsyncClient, stats: Stats, secret_id: str) -> None:
    key = stats.created[secret_id]
    if random.random() < 0.1:
        await reveal(customer, stats, secret_id, "A" * 43, expect=400)  # spends nothing
    await reveal(customer, stats, secret_id, key, expect=200)
    if random.random() < 0.1:
        await reveal(customer, stats, secret_id, key, expect=404)  # never twice


async def soak(args: argparse.Namespace) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="safe-share-soak-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'soak.sqlite'}"
    engine = create_engine(database_url)
    await start(engine)
    await migrate(engine)
    for table in TABLES:
        await table.delete(force=True)

    redis = {"SAFE_SHARE_REDIS_URL": args.redis_url} if args.redis_url else {}
    async with served_app(database_url, workdir / "app.log", env=redis) as served:
        staff, customer = served.staff, served.customer
        stats = Stats()
        queue: asyncio.Queue[str] = asyncio.Queue()
        # Warm up, then measure the starting memory; the peak is the kernel's high-water mark.
        for _ in range(20):
            await create(staff, stats, queue)
        rss_start = rss(served.pid)
        reset_peak(served.pid)
        tasks: set[asyncio.Task[None]] = set()
        interval = 1 / args.rate
        began = time.monotonic()
        deadline = began + args.minutes * 60
        tick = 0
        while time.monotonic() < deadline:
            tick += 1
            task = asyncio.create_task(create(staff, stats, queue))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            # Reveal what was created a few seconds ago: secrets wait a little, like in life.
            while queue.qsize() > args.rate * 3:
                secret_id = queue.get_nowait()
                task = asyncio.create_task(reveal_one(customer, stats, secret_id))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tick % max(1, int(args.rate * 10)) == 0:
                elapsed = time.monotonic() - began
                print(
                    f"{elapsed:6.0f}s created={len(stats.created)} "
                    f"revealed={sum(stats.revealed.values())} errors={len(stats.errors)} "
                    f"rss={rss(served.pid) / 2**20:.1f} MiB",
                    flush=True,
                )
            await asyncio.sleep(max(0.0, began + tick * interval - time.monotonic()))
        await asyncio.gather(*tasks)
        while not queue.empty():
            await reveal_one(customer, stats, queue.get_nowait())
        rss_end = rss(served.pid)
        rss_peak = max(peak_rss(served.pid), rss_end)
        duration = time.monotonic() - began

    # Every created secret: revealed exactly once (one audit row, state opened) or expired.
    rows = {r["id"]: r["state"] for r in await Secret.select(Secret.id, Secret.state)}
    audits = Counter(
        r["secret_id"]
        for r in await AuditEvent.select(AuditEvent.secret_id).where(
            AuditEvent.action == "secret.revealed"
        )
    )
    await stop(engine)
    wrong = [
        secret_id
        for secret_id in stats.created
        if not (
            (
                rows.get(secret_id) == "opened"
                and audits[secret_id] == 1
                and stats.revealed[secret_id] == 1
            )
            or rows.get(secret_id) == "expired"
        )
    ]

    def pct(kind: str, q: float) -> float:
        values = sorted(stats.latencies.get(kind, [0.0]))
        return round(values[min(len(values) - 1, int(q * len(values)))], 1)

    return {
        "minutes": round(duration / 60, 2),
        "rate_per_second": args.rate,
        "database": "postgresql" if database_url.startswith("postgres") else "sqlite",
        "redis": bool(args.redis_url),
        "created": len(stats.created),
        "revealed_once": sum(1 for c in stats.revealed.values() if c == 1),
        "revealed_more_than_once": sum(1 for c in stats.revealed.values() if c > 1),
        "not_revealed_once_nor_expired": len(wrong),
        "statuses": dict(sorted(stats.statuses.items())),
        "errors": len(stats.errors),
        "error_kinds": dict(Counter(stats.errors).most_common(10)),
        "latency_ms": {
            kind: {
                "p50": pct(kind, 0.5),
                "p95": pct(kind, 0.95),
                "p99": pct(kind, 0.99),
                "mean": round(statistics.fmean(stats.latencies.get(kind, [0.0])), 1),
            }
            for kind in ("create", "reveal")
        },
        "rss_mib": {
            "start": round(rss_start / 2**20, 1),
            "end": round(rss_end / 2**20, 1),
            "peak": round(rss_peak / 2**20, 1),
        },
        "app_log": str(workdir / "app.log"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=5, help="secrets created per second")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--redis-url", default=None)
    report = asyncio.run(soak(parser.parse_args()))
    print(json.dumps(report, indent=2))
    ok = report["errors"] == 0 and report["not_revealed_once_nor_expired"] == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
