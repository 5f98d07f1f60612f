"""Closed-loop load generation: N virtual users, each repeating one scenario until a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from benchmarks.httpclient import CookieJar, HttpConnection, HttpError, Response

MAX_ERROR_SAMPLES = 5

UserT = TypeVar("UserT")


class ScenarioError(Exception):
    """A response that is not what a working server answers (wrong status, missing link)."""


class PoolExhaustedError(Exception):
    """A scenario ran out of prepared work (e.g. secrets to reveal); the user stops early."""


@dataclass
class Recorder:
    """Latencies per step of one workload run; shared by all virtual users (one event loop)."""

    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    requests: int = 0
    iterations: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    exhausted: bool = False

    async def timed(
        self,
        step: str,
        conn: HttpConnection,
        method: str,
        path: str,
        expect: Sequence[int],
        *,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        jar: CookieJar | None = None,
    ) -> Response:
        start = time.perf_counter()
        response = await conn.request(method, path, headers=headers, form=form, jar=jar)
        elapsed = (time.perf_counter() - start) * 1000
        self.latencies_ms.setdefault(step, []).append(elapsed)
        self.requests += 1
        if response.status not in expect:
            raise ScenarioError(f"{step}: HTTP {response.status} {response.text[:120]!r}")
        return response

    def error(self, exc: BaseException) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(f"{type(exc).__name__}: {exc}"[:300])

    def all_latencies(self) -> list[float]:
        return [value for values in self.latencies_ms.values() for value in values]


Scenario = Callable[[UserT, Recorder], Awaitable[None]]


@dataclass
class Outcome:
    recorder: Recorder
    elapsed_s: float
    # CPU the load generator itself used: near 100% means it, not the server, was the limit.
    client_cpu_s: float


@dataclass
class LoadRun(Generic[UserT]):
    """One workload at one concurrency: every user runs `scenario` back to back until `duration`."""

    users: Sequence[UserT]
    scenario: Scenario[UserT]
    duration: float
    # Errors in a row after which a user gives up, so a broken server cannot spin the loop.
    max_consecutive_errors: int = 50

    async def run(self) -> Outcome:
        recorder = Recorder()
        cpu_start = time.process_time()
        start = time.perf_counter()
        deadline = start + self.duration
        await asyncio.gather(*(self._user_loop(user, recorder, deadline) for user in self.users))
        elapsed = time.perf_counter() - start
        return Outcome(recorder, elapsed, time.process_time() - cpu_start)

    async def _user_loop(self, user: UserT, recorder: Recorder, deadline: float) -> None:
        consecutive_errors = 0
        while time.perf_counter() < deadline and not recorder.exhausted:
            try:
                await self.scenario(user, recorder)
            except PoolExhaustedError:
                recorder.exhausted = True
                return
            except (ScenarioError, HttpError, OSError, TimeoutError) as exc:
                recorder.error(exc)
                consecutive_errors += 1
                if consecutive_errors >= self.max_consecutive_errors:
                    return
                continue
            recorder.iterations += 1
            consecutive_errors = 0


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(fraction * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Summary:
    requests: int
    iterations: int
    errors: int
    elapsed_s: float
    requests_per_s: float
    iterations_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    steps: dict[str, dict[str, float]]
    exhausted: bool
    client_cpu_percent: float
    error_samples: list[str]


def summarise(outcome: Outcome) -> Summary:
    rec = outcome.recorder
    elapsed = max(outcome.elapsed_s, 1e-9)
    everything = sorted(rec.all_latencies())
    steps: dict[str, dict[str, float]] = {}
    for step, values in rec.latencies_ms.items():
        ordered = sorted(values)
        steps[step] = {
            "count": len(ordered),
            "p50_ms": percentile(ordered, 0.50),
            "p95_ms": percentile(ordered, 0.95),
            "p99_ms": percentile(ordered, 0.99),
        }
    return Summary(
        requests=rec.requests,
        iterations=rec.iterations,
        errors=rec.errors,
        elapsed_s=elapsed,
        requests_per_s=rec.requests / elapsed,
        iterations_per_s=rec.iterations / elapsed,
        p50_ms=percentile(everything, 0.50),
        p95_ms=percentile(everything, 0.95),
        p99_ms=percentile(everything, 0.99),
        steps=steps,
        exhausted=rec.exhausted,
        client_cpu_percent=100 * outcome.client_cpu_s / elapsed,
        error_samples=rec.error_samples,
    )
