"""`python -m benchmarks.run`: start every server on free loopback ports, load each with wrk,
compare. One process per server; they take turns, one at a time, so they never compete:
  ceiling       a bare Litestar + Jinja2 page (benchmarks/ceiling_app.py), uvicorn
  snappass      Pinterest's snappass under gunicorn (one worker) against Redis, own venv
  app-postgres  Safe Share, production settings, PostgreSQL + Redis, uvicorn
  app-sqlite    Safe Share on the embedded defaults (SQLite, in-memory stores), uvicorn
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks import report
from benchmarks.servers import LOOPBACK, ServerProcess, free_port, tree_cpu_seconds
from benchmarks.signin import write_identities
from benchmarks.snappass_env import ensure_snappass_venv, gunicorn_argv
from benchmarks.targets import ALL_WORKLOADS, ROUND_TRIP, Target
from benchmarks.wrk import ensure_wrk, run_wrk

BENCH_DIR = Path(__file__).resolve().parent
ALL_TARGETS = ("ceiling", "snappass", "app-postgres", "app-sqlite")
BASELINE = "app-baseline"  # --baseline-root: the same PostgreSQL setup from another checkout
BENCH_DB_PATTERN = re.compile(r"^bench_[a-z0-9_]+$")
SNAPPASS_PREFIX = "benchsnappass"
RATE_LIMITS = (
    "REVEAL_PER_SECRET",
    "REVEAL_PER_CLIENT",
    "GUEST_PER_TOKEN",
    "GUEST_PER_CLIENT",
    "SIGNIN_PER_CLIENT",
    "CREATE_PER_USER",
)
RATE_LIMIT_MAX = 1_000_000  # the highest value app/settings.py accepts
# Reveal pool size relative to the round trips' request rate: a lone reveal runs faster than
# the average round-trip request, and running dry only ends a run early.
POOL_HEADROOM = 2.0
# The longest an untimed fill of the reveal pool may take.
POOL_FILL_LIMIT_S = 300.0


@dataclass
class Options:
    duration: float
    warmup: float
    concurrency: list[int]
    targets: list[str]
    workloads: list[str]
    project_root: Path
    results_dir: Path
    pg_admin_url: str
    pg_database: str
    rounds: int
    note: str
    redis_url: str
    app_redis_db: int
    snappass_redis_db: int
    baseline_redis_db: int
    profile: bool
    baseline_root: Path | None


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=10.0,
        help="seconds per workload and concurrency (default 10)",
    )
    parser.add_argument(
        "--concurrency",
        default="1,16",
        help="comma-separated concurrent clients (default 1,16)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 s per workload, short warm-up: a smoke run, not a measurement",
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="untimed seconds before each")
    parser.add_argument(
        "--targets",
        default=",".join(ALL_TARGETS),
        help=f"comma-separated subset of {','.join(ALL_TARGETS)}",
    )
    parser.add_argument(
        "--workloads",
        default=",".join(ALL_WORKLOADS),
        help=f"comma-separated subset of {','.join(ALL_WORKLOADS)}",
    )
    parser.add_argument(
        "--project-root",
        type=Path,
        default=BENCH_DIR.parent,
        help="the Safe Share checkout to run (default: this one)",
    )
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    parser.add_argument(
        "--pg-admin-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="where to (re)create the benchmark database",
    )
    parser.add_argument(
        "--pg-database",
        default="bench_safe_share",
        help="benchmark database, dropped and recreated (must start with bench_)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="repeat the whole sweep; report each measurement's median round (default 3)",
    )
    parser.add_argument("--note", default="", help="free text saved with the results")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy record each Safe Share server during its timed runs (results/profiles/)",
    )
    parser.add_argument(
        "--baseline-root",
        type=Path,
        default=None,
        help="another checkout (an earlier commit) served beside this one as target "
        "app-baseline (PostgreSQL): an A/B comparison whose rounds share the machine's drift",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    # Not 13 and 14, which the test suites use.
    parser.add_argument("--app-redis-db", type=int, default=11)
    parser.add_argument("--baseline-redis-db", type=int, default=10)
    parser.add_argument("--snappass-redis-db", type=int, default=12)
    args = parser.parse_args(argv)

    concurrency = [int(part) for part in args.concurrency.split(",") if part.strip()]
    targets = [part.strip() for part in args.targets.split(",") if part.strip()]
    if args.baseline_root is not None and BASELINE not in targets:
        targets.append(BASELINE)
    unknown = set(targets) - set(ALL_TARGETS) - ({BASELINE} if args.baseline_root else set())
    if unknown or not targets:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    workloads = [part.strip() for part in args.workloads.split(",") if part.strip()]
    unknown = set(workloads) - set(ALL_WORKLOADS)
    if unknown or not workloads:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    if not concurrency or min(concurrency) < 1 or max(concurrency) > 512:
        parser.error("--concurrency must be between 1 and 512")
    if not BENCH_DB_PATTERN.match(args.pg_database):
        parser.error("--pg-database must look like bench_<name>: it is dropped on every run")
    duration, warmup = args.duration, args.warmup
    if args.quick:
        duration, warmup = 2.0, 0.3
    if not 1 <= duration <= 600:
        parser.error("--duration must be between 1 and 600 seconds")
    return Options(
        duration=duration,
        warmup=warmup,
        concurrency=concurrency,
        targets=targets,
        workloads=workloads,
        project_root=args.project_root.resolve(),
        results_dir=args.results_dir.resolve(),
        pg_admin_url=args.pg_admin_url,
        pg_database=args.pg_database,
        rounds=max(1, min(args.rounds, 10)),
        note=args.note,
        redis_url=args.redis_url.rstrip("/"),
        app_redis_db=args.app_redis_db,
        snappass_redis_db=args.snappass_redis_db,
        baseline_redis_db=args.baseline_redis_db,
        profile=args.profile,
        baseline_root=args.baseline_root.resolve() if args.baseline_root else None,
    )


def base_env(*pythonpath: Path) -> dict[str, str]:
    # Nothing of the caller's Safe Share configuration may leak into a benchmark server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFE_SHARE_")}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def uvicorn_argv(factory: str, port: int, *, own_access_log: bool) -> list[str]:
    # The flags of docker-entrypoint.sh, one process. The app logs every request through its
    # own redacting access log, as in production; the ceiling through uvicorn's.
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--log-level",
        "info",
        "--no-proxy-headers",  # the app reads X-Forwarded-For itself (SAFE_SHARE_TRUSTED_PROXIES)
        "--no-server-header",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        *(["--no-access-log"] if own_access_log else []),
    ]


async def recreate_database(admin_url: str, name: str) -> None:
    import asyncpg

    assert BENCH_DB_PATTERN.match(name)  # only ever our own benchmark database
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def delete_redis_keys(url: str, pattern: str) -> None:
    """Remove what a benchmark left behind (snappass keys live for a week otherwise)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        batch: list[Any] = []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
    finally:
        client.close()


def migrate(project_root: Path, env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        result = subprocess.run(
            [sys.executable, "-m", "app.db.migrate"],
            cwd=project_root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"migrations failed, see {log}")


class Runner:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.rows: list[report.Row] = []
        self.logs = opts.results_dir / "logs"
        self.failures: list[str] = []
        self.load_at_start = _load_average()
        self.workdir = Path(tempfile.mkdtemp(prefix="safe-share-bench-"))

    async def run(self) -> None:
        ensure_wrk()
        async with AsyncExitStack() as stack:
            targets: list[Target] = []
            for name in self.opts.targets:
                try:
                    target = await self.start_target(name, stack)
                except Exception as exc:  # one broken target must not lose the others' results
                    self.fail(name, exc)
                    continue
                print(f"== {name}: ready on port {target.server.port}", flush=True)
                targets.append(target)
            try:
                for number in range(1, self.opts.rounds + 1):
                    if self.opts.rounds > 1:
                        print(f"== round {number} of {self.opts.rounds}", flush=True)
                    await self.measure(targets, number)
            finally:
                shutil.rmtree(self.workdir, ignore_errors=True)  # session cookies, pools
                if "snappass" in self.opts.targets:
                    db_url = f"{self.opts.redis_url}/{self.opts.snappass_redis_db}"
                    delete_redis_keys(db_url, f"{SNAPPASS_PREFIX}*")

    def fail(self, name: str, exc: BaseException) -> None:
        message = f"{name}: {type(exc).__name__}: {exc}"
        self.failures.append(message)
        print(f"!! {message}", file=sys.stderr, flush=True)

    async def start_server(
        self,
        stack: AsyncExitStack,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        port: int,
        ready_path: str = "/",
    ) -> ServerProcess:
        server = ServerProcess(
            name, argv, port=port, env=env, cwd=cwd, log_path=self.logs / f"{name}.log"
        )
        stack.callback(server.stop)  # registered before start: stopped even if start fails
        server.start()
        await server.wait_ready(ready_path)
        return server

    async def start_target(self, name: str, stack: AsyncExitStack) -> Target:
        port = free_port()
        if name == "ceiling":
            env = base_env(BENCH_DIR.parent)
            argv = uvicorn_argv("benchmarks.ceiling_app:create_app", port, own_access_log=False)
            server = await self.start_server(
                stack, name, argv, env=env, cwd=BENCH_DIR.parent, port=port
            )
            return Target(name, server, "ceiling", same_page_for_all=True)
        if name == "snappass":
            bin_dir = ensure_snappass_venv()
            env = base_env()
            env.update(
                REDIS_URL=f"{self.opts.redis_url}/{self.opts.snappass_redis_db}",
                NO_SSL="True",
                REDIS_PREFIX=SNAPPASS_PREFIX,
            )
            argv = gunicorn_argv(bin_dir, port)
            server = await self.start_server(stack, name, argv, env=env, cwd=BENCH_DIR, port=port)
            return Target(name, server, "snappass")
        return await self.start_app(name, port, stack)

    async def start_app(self, name: str, port: int, stack: AsyncExitStack) -> Target:
        baseline = name == BASELINE
        root = (
            self.opts.baseline_root
            if baseline and self.opts.baseline_root
            else self.opts.project_root
        )
        idp_port = free_port()
        issuer = f"http://{LOOPBACK}:{idp_port}"
        idp_argv = [sys.executable, "-m", "oidc_provider_mock", "--port", str(idp_port)]
        await self.start_server(
            stack,
            f"{name}-oidc",
            idp_argv,
            env=base_env(),
            cwd=root,
            port=idp_port,
            ready_path="/.well-known/openid-configuration",
        )
        env = base_env(root)
        env.update(
            SAFE_SHARE_SECRET_KEY=secrets.token_urlsafe(32),
            SAFE_SHARE_OIDC_ISSUER=issuer,
            SAFE_SHARE_OIDC_CLIENT_ID="safe-share-bench",
            SAFE_SHARE_OIDC_CLIENT_SECRET=secrets.token_urlsafe(16),
        )
        if name in ("app-postgres", BASELINE):
            database = self.opts.pg_database + ("_baseline" if baseline else "")
            redis_db = self.opts.baseline_redis_db if baseline else self.opts.app_redis_db
            await recreate_database(self.opts.pg_admin_url, database)
            admin = self.opts.pg_admin_url.rsplit("/", 1)[0]
            env.update(
                SAFE_SHARE_ENV="production",
                SAFE_SHARE_DATABASE_URL=f"{admin}/{database}",
                SAFE_SHARE_REDIS_URL=f"{self.opts.redis_url}/{redis_db}",
                # Production insists on https; TLS would end at a proxy in front of the app.
                SAFE_SHARE_BASE_URL=f"https://{LOOPBACK}:{port}",
            )
        else:
            sqlite = self.logs / "bench.sqlite"
            self.logs.mkdir(parents=True, exist_ok=True)
            for leftover in self.logs.glob("bench.sqlite*"):
                leftover.unlink()
            env.update(
                SAFE_SHARE_ENV="development",
                SAFE_SHARE_DATABASE_URL=f"sqlite:///{sqlite}",
                SAFE_SHARE_BASE_URL=f"http://{LOOPBACK}:{port}",
            )
        # Every virtual user comes from 127.0.0.1, so per-client limits would refuse the load
        # at once; at the maximum they still count every request, so their cost is measured.
        for limit in RATE_LIMITS:
            env[f"SAFE_SHARE_RATE_{limit}"] = str(RATE_LIMIT_MAX)
        # The mock provider speaks plain http on loopback; authlib refuses that unless told.
        env["AUTHLIB_INSECURE_TRANSPORT"] = "1"
        migrate(root, env, self.logs / f"{name}.log")
        argv = uvicorn_argv("app.web.app:create_served_app", port, own_access_log=True)
        server = await self.start_server(
            stack, name, argv, env=env, cwd=root, port=port, ready_path="/healthz"
        )
        # Every virtual user signs in through the real OIDC flow before anything is timed.
        identities = self.workdir / f"{name}-identities.tsv"
        url = f"http://{LOOPBACK}:{port}"
        await write_identities(url, issuer, max(self.opts.concurrency), identities)
        return Target(name, server, "safe_share", identities=identities)

    async def measure(self, targets: list[Target], round_number: int) -> None:
        # All servers stay up and take turns at each (workload, concurrency): load from other
        # work on a shared machine then drifts over every target alike, keeping ratios honest.
        broken: set[str] = set()
        for workload in self.opts.workloads:
            for concurrency in self.opts.concurrency:
                for target in targets:
                    if workload not in target.workloads or target.name in broken:
                        continue
                    try:
                        row = await self.measure_one(target, workload, concurrency, round_number)
                    except Exception as exc:
                        self.fail(target.name, exc)
                        broken.add(target.name)
                        continue
                    self.rows.append(row)
                    s = row.summary
                    print(
                        f"   {target.name:<13} {workload:<11} c={concurrency:<3} "
                        f"{s.requests_per_s:8.0f} req/s  p99 {s.p99_ms:7.1f} ms  errors {s.errors}"
                        + (f"  e.g. {s.error_samples[0]}" if s.error_samples else "")
                        + ("  (pool ran out)" if s.exhausted else ""),
                        flush=True,
                    )

    async def measure_one(
        self, target: Target, workload: str, concurrency: int, round_number: int
    ) -> report.Row:
        env = {"BENCH_IDENTITIES": str(target.identities or "")}
        script = target.script_workload(workload)

        def wrk(script: str, duration: float, **kwargs: Any) -> Any:
            return asyncio.to_thread(
                run_wrk,
                target.url,
                shapes=target.shapes,
                workload=script,
                connections=concurrency,
                duration=duration,
                env=env,
                **kwargs,
            )

        if target.needs_pool(workload):
            # Secrets to reveal, made by the same create request, untimed, until there are enough.
            pool = self.workdir / f"pool-{target.name}-{workload}-{concurrency}-{round_number}"
            pool.mkdir()
            per_user = self.pool_per_user(target.name, concurrency)
            env.update(BENCH_POOL_DIR=str(pool), BENCH_POOL_COUNT=str(per_user))
            await wrk(
                "fill",
                POOL_FILL_LIMIT_S,
                stop_when=lambda: pool_size(pool) >= per_user * concurrency,
            )
        elif self.opts.warmup > 0:
            await wrk(script, self.opts.warmup)
        monitor = target.server.monitor
        assert monitor is not None
        profiler = self.start_profiler(target, workload, concurrency)
        pid = target.server.proc.pid if target.server.proc else None
        cpu_before = tree_cpu_seconds(pid) if pid else 0.0
        monitor.start_window()
        summary = await wrk(script, self.opts.duration)
        peak = monitor.end_window()
        cpu = (tree_cpu_seconds(pid) - cpu_before) if pid else 0.0
        if profiler is not None:
            await asyncio.to_thread(profiler.wait, 60)
        per_request = 1e6 * cpu / summary.requests if summary.requests else 0.0
        return report.Row(target.name, workload, concurrency, summary, peak / 2**20, per_request)

    def start_profiler(
        self, target: Target, workload: str, concurrency: int
    ) -> subprocess.Popen[bytes] | None:
        """py-spy's sampled stacks of the server process for the timed run, in a file that
        `python -m benchmarks.profile` sums up."""
        proc = target.server.proc
        if not self.opts.profile or target.identities is None or proc is None:
            return None
        out = self.opts.results_dir / "profiles" / f"{target.name}-{workload}-c{concurrency}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--format",
            "raw",
            "--rate",
            "200",
        ]
        argv += ["-d", str(max(1, round(self.opts.duration))), "-p", str(proc.pid), "-o", str(out)]
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def pool_per_user(self, target: str, concurrency: int) -> int:
        round_trip = [
            r
            for r in self.rows
            if (r.target, r.workload, r.concurrency) == (target, ROUND_TRIP, concurrency)
        ]
        # Without a round-trip measurement, guess generously; running out only ends early.
        rate = max(r.summary.requests_per_s for r in round_trip) if round_trip else 300.0
        total = rate * self.opts.duration * POOL_HEADROOM
        return max(10, math.ceil(total / concurrency))

    def meta(self) -> dict[str, Any]:
        def git(*args: str) -> str:
            try:
                out = subprocess.run(
                    ["git", "-C", str(self.opts.project_root), *args],
                    capture_output=True,
                    text=True,
                    timeout=10,
                    check=False,
                )
            except OSError:
                return ""
            return out.stdout.strip()

        return {
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "project_commit": git("rev-parse", "--short", "HEAD"),
            "note": self.opts.note,
            "python": platform.python_version(),
            "load_generator": "wrk, one thread per connection, Lua flows (benchmarks/lua)",
            "cpus": os.cpu_count(),
            # Other work on the machine skews everything; ratios of adjacent runs suffer least.
            "load_average_1m": {"start": self.load_at_start, "end": _load_average()},
            "duration_s": self.opts.duration,
            "warmup_s": self.opts.warmup,
            "rounds": self.opts.rounds,
            "concurrency": self.opts.concurrency,
            "targets": self.opts.targets,
            "workloads": self.opts.workloads,
            "failures": self.failures,
            "servers": {
                "ceiling": "uvicorn, 1 process, access log on",
                "snappass": "gunicorn 1 worker x 4 threads (gthread), access log on, Redis",
                "app-postgres": "uvicorn, 1 process, production settings, PostgreSQL + Redis",
                "app-sqlite": "uvicorn, 1 process, development defaults, SQLite, memory stores",
            },
        }

    def write_results(self) -> None:
        rows = report.median_rows(self.rows)
        ratios = report.compute_ratios(rows)
        table = report.format_table(rows)
        parts = [table]
        if ratios:
            parts += ["", "Ratios (same run; RT = full round trip):", report.format_ratios(ratios)]
        if checks := report.check_targets(ratios):
            parts += ["", f"Targets at c={report.TARGET_CONCURRENCY} (issue 15):", *checks]
        text = "\n".join(parts)
        print("\n" + text, flush=True)
        results = self.opts.results_dir
        report.save_json(results / "latest.json", self.meta(), rows, ratios, self.rows)
        (results / "latest.txt").write_text(text + "\n")
        if rows:
            report.save_chart(results / "latest.png", rows)
        print(f"\nSaved {results / 'latest.json'}, latest.txt and latest.png", flush=True)


def pool_size(pool: Path) -> int:
    """Secrets made so far by a fill run: one line per secret in the per-user files."""
    total = 0
    for part in pool.glob("*.txt"):
        try:
            total += part.read_bytes().count(b"\n")
        except OSError:
            continue
    return total


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into an exception so every `finally` stops the servers it started.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    runner = Runner(opts)
    started = time.monotonic()
    cpus = os.cpu_count() or 1
    if runner.load_at_start is not None and runner.load_at_start > cpus / 2:
        print(
            f"Note: load average {runner.load_at_start} on {cpus} CPUs; results will be noisy.",
            flush=True,
        )
    interrupted = False
    try:
        asyncio.run(runner.run())
    except KeyboardInterrupt:
        # The servers are already stopped by the exit stacks; keep what was measured.
        interrupted = True
        print("\nInterrupted: results so far follow.", file=sys.stderr, flush=True)
    finally:
        if runner.rows:
            runner.write_results()
        print(f"Took {time.monotonic() - started:.0f} s", flush=True)
    if interrupted:
        return 130
    if runner.failures:
        print("Failed targets:\n  " + "\n  ".join(runner.failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
