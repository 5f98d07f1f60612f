"""Load generation with wrk (C, multi-threaded): it costs the servers far less CPU than any
Python client would on the same 2 cores. Lua scripts in benchmarks/lua/ drive the flows."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

LUA_DIR = Path(__file__).resolve().parent / "lua"
DRIVER = LUA_DIR / "driver.lua"
RESULT_PREFIX = "BENCH_RESULT "


class WrkError(RuntimeError):
    """wrk failed or printed no result line."""


def ensure_wrk() -> str:
    """The wrk binary, installed with apt-get (Debian package `wrk`) when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = ["apt-get", "install", "-y", "-q", "wrk"]
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    print("wrk is missing: installing it with apt-get", flush=True)
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=False)
    subprocess.run([*sudo, *apt], check=True)
    found = shutil.which("wrk")
    if not found:
        raise WrkError("apt-get installed wrk, but it is not on PATH")
    return found


@dataclass
class Summary:
    """One wrk run: rates over the whole run, latency percentiles of every request in it."""

    requests: int
    iterations: int
    errors: int
    elapsed_s: float
    requests_per_s: float
    iterations_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    exhausted: bool
    idle_users: int  # users that finished nothing: stuck on a request, or always failing
    error_samples: list[str] = field(default_factory=list)


def parse_result(output: str) -> Summary:
    for line in reversed(output.splitlines()):
        if line.startswith(RESULT_PREFIX):
            data = json.loads(line.removeprefix(RESULT_PREFIX))
            break
    else:
        raise WrkError(f"no result from wrk:\n{output[-2000:]}")
    elapsed = max(data["duration_us"] / 1e6, 1e-9)
    errors = data["failures"] + data["socket_errors"] + data["timeouts"]
    return Summary(
        requests=data["requests"],
        iterations=data["iterations"],
        errors=errors,
        elapsed_s=elapsed,
        requests_per_s=data["requests"] / elapsed,
        iterations_per_s=data["iterations"] / elapsed,
        p50_ms=data["p50_us"] / 1000,
        p95_ms=data["p95_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        exhausted=bool(data["exhausted"]),
        idle_users=data["idle_users"],
        error_samples=list(data["samples"]),
    )


def run_wrk(
    url: str,
    *,
    shapes: str,
    workload: str,
    connections: int,
    duration: float,
    env: Mapping[str, str],
    stop_when: Callable[[], bool] | None = None,
) -> Summary:
    """One closed-loop run: `connections` users (one thread each) repeat `workload` for
    `duration` seconds, or until `stop_when()` says enough (polled)."""
    argv = [
        ensure_wrk(),
        f"-t{connections}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(DRIVER),
        url,
    ]
    run_env = {
        **os.environ,
        **env,
        "BENCH_LUA_DIR": str(LUA_DIR),
        "BENCH_SHAPES": shapes,
        "BENCH_WORKLOAD": workload,
    }
    with subprocess.Popen(
        argv, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        deadline = time.monotonic() + duration + 120
        while proc.poll() is None:
            if stop_when is not None and stop_when():
                proc.send_signal(signal.SIGINT)  # wrk stops and reports what it did so far
                break
            if time.monotonic() > deadline:
                proc.kill()
                break
            time.sleep(0.2)
        stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise WrkError(f"wrk exited {proc.returncode}: {stderr[-2000:]}")
    return parse_result(stdout)
