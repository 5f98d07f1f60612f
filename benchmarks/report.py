"""Turn measurements into a table, ratios against the ceiling and snappass, JSON and a chart."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.targets import ALL_WORKLOADS, CREATE, HOME, HOME_ANON, REVEAL, ROUND_TRIP
from benchmarks.wrk import Summary

CEILING = "ceiling"
SNAPPASS = "snappass"
APP_TARGETS = ("app-postgres", "app-sqlite", "app-baseline")  # the last: --baseline-root
# The targets of issue 15, checked at this concurrency.
TARGET_CONCURRENCY = 16
MIN_ROUND_TRIPS_VS_SNAPPASS = 1.0
MIN_HOME_VS_CEILING = 0.35
MIN_HOME_ANON_VS_CEILING = 0.5
MAX_P99_MS = 25.0
MAX_SQLITE_ROUND_TRIP_P99_MS = 100.0


@dataclass
class Row:
    target: str
    workload: str
    concurrency: int
    summary: Summary
    peak_rss_mb: float
    # The server's CPU time over the timed run per request: steady on a busy machine.
    cpu_us_per_request: float = 0.0


def median_rows(rows: list[Row]) -> list[Row]:
    """With several rounds, keep per target/workload/concurrency the round of median rate
    (the slower middle one for an even count: interference only ever makes a run slower, and
    the lower choice keeps claims conservative)."""
    groups: dict[tuple[str, str, int], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.target, row.workload, row.concurrency), []).append(row)
    chosen: list[Row] = []
    for group in groups.values():
        ordered = sorted(group, key=lambda row: row.summary.requests_per_s)
        chosen.append(ordered[(len(ordered) - 1) // 2])
    return chosen


def _key(rows: list[Row]) -> dict[tuple[str, str, int], Row]:
    return {(row.target, row.workload, row.concurrency): row for row in rows}


TARGET_ORDER = (CEILING, SNAPPASS, *APP_TARGETS)
WORKLOAD_ORDER = ALL_WORKLOADS


def _order(row: Row) -> tuple[int, int, int]:
    return (
        TARGET_ORDER.index(row.target) if row.target in TARGET_ORDER else 99,
        WORKLOAD_ORDER.index(row.workload) if row.workload in WORKLOAD_ORDER else 99,
        row.concurrency,
    )


def format_table(rows: list[Row]) -> str:
    header = (
        f"{'target':<13} {'workload':<11} {'c':>3} {'req/s':>8} {'iter/s':>8} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>6} {'RSS MB':>7} {'CPU µs/req':>10}"
    )
    lines = [header, "-" * len(header)]
    for row in sorted(rows, key=_order):
        s = row.summary
        note = f" (pool ran out at {s.elapsed_s:.1f} s)" if s.exhausted else ""
        # The ceiling always does its one GET; the name says which workload it ran beside.
        workload = f"({row.workload})" if row.target == CEILING else row.workload
        lines.append(
            f"{row.target:<13} {workload:<11} {row.concurrency:>3} {s.requests_per_s:>8.0f} "
            f"{s.iterations_per_s:>8.0f} {s.p50_ms:>7.1f} {s.p95_ms:>7.1f} {s.p99_ms:>7.1f} "
            f"{s.errors:>6} {row.peak_rss_mb:>7.0f} {row.cpu_us_per_request:>10.0f}{note}"
        )
    return "\n".join(lines)


def compute_ratios(rows: list[Row]) -> list[dict[str, Any]]:
    """Per app target and concurrency: shares of the ceiling and multiples of snappass."""
    index = _key(rows)
    concurrencies = sorted({row.concurrency for row in rows})
    out: list[dict[str, Any]] = []

    def rate(target: str, workload: str, c: int, per: str = "requests") -> float | None:
        row = index.get((target, workload, c))
        if row is None:
            return None
        s = row.summary
        return s.requests_per_s if per == "requests" else s.iterations_per_s

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a is not None and b else None

    def cpu(target: str, workload: str, c: int) -> float | None:
        row = index.get((target, workload, c))
        return row.cpu_us_per_request if row and row.cpu_us_per_request else None

    for app in APP_TARGETS:
        for c in concurrencies:
            if not any(row.target == app and row.concurrency == c for row in rows):
                continue

            def p99(workload: str, c: int = c, app: str = app) -> float | None:
                row = index.get((app, workload, c))
                return round(row.summary.p99_ms, 1) if row else None

            entry: dict[str, Any] = {
                "target": app,
                "concurrency": c,
                # Each of create, open and reveal counts as one request.
                # The ceiling's page was measured next to each workload.
                "home_anon_vs_ceiling": ratio(rate(app, HOME_ANON, c), rate(CEILING, HOME_ANON, c)),
                "home_vs_ceiling": ratio(rate(app, HOME, c), rate(CEILING, HOME, c)),
                "create_vs_ceiling": ratio(rate(app, CREATE, c), rate(CEILING, CREATE, c)),
                "round_trip_requests_vs_ceiling": ratio(
                    rate(app, ROUND_TRIP, c), rate(CEILING, ROUND_TRIP, c)
                ),
                "reveal_vs_ceiling": ratio(rate(app, REVEAL, c), rate(CEILING, REVEAL, c)),
                "round_trips_vs_snappass": ratio(
                    rate(app, ROUND_TRIP, c, "iterations"),
                    rate(SNAPPASS, ROUND_TRIP, c, "iterations"),
                ),
                "creates_vs_snappass": ratio(rate(app, CREATE, c), rate(SNAPPASS, CREATE, c)),
                "reveals_vs_snappass": ratio(rate(app, REVEAL, c), rate(SNAPPASS, REVEAL, c)),
                # The same shares from the server's CPU time per request (cheaper is better,
                # so the other server's cost over ours): steadier on a busy machine.
                "cpu_home_anon_vs_ceiling": ratio(
                    cpu(CEILING, HOME_ANON, c), cpu(app, HOME_ANON, c)
                ),
                "cpu_home_vs_ceiling": ratio(cpu(CEILING, HOME, c), cpu(app, HOME, c)),
                "cpu_round_trip_vs_snappass": ratio(
                    cpu(SNAPPASS, ROUND_TRIP, c), cpu(app, ROUND_TRIP, c)
                ),
                "create_p99_ms": p99(CREATE),
                "reveal_p99_ms": p99(REVEAL),
                "round_trip_p99_ms": p99(ROUND_TRIP),
            }
            out.append(entry)
    return out


def check_targets(ratios: list[dict[str, Any]]) -> list[str]:
    """The issue's targets at c=16, as pass/fail lines."""
    lines: list[str] = []
    checks: tuple[tuple[str, str, str, Callable[[float], bool]], ...] = (
        (
            "app-postgres",
            "round trips/s ≥ 1.0× snappass",
            "round_trips_vs_snappass",
            lambda v: v >= MIN_ROUND_TRIPS_VS_SNAPPASS,
        ),
        (
            "app-postgres",
            "signed-in home ≥ 0.35× ceiling",
            "home_vs_ceiling",
            lambda v: v >= MIN_HOME_VS_CEILING,
        ),
        (
            "app-postgres",
            "anonymous home ≥ 0.5× ceiling",
            "home_anon_vs_ceiling",
            lambda v: v >= MIN_HOME_ANON_VS_CEILING,
        ),
        ("app-postgres", "create p99 < 25 ms", "create_p99_ms", lambda v: v < MAX_P99_MS),
        ("app-postgres", "reveal p99 < 25 ms", "reveal_p99_ms", lambda v: v < MAX_P99_MS),
        (
            "app-sqlite",
            "round trip p99 < 100 ms",
            "round_trip_p99_ms",
            lambda v: v < MAX_SQLITE_ROUND_TRIP_P99_MS,
        ),
    )
    for target, label, key, ok in checks:
        for entry in ratios:
            if entry["target"] != target or entry["concurrency"] != TARGET_CONCURRENCY:
                continue
            value = entry[key]
            verdict = "n/a" if value is None else ("PASS" if ok(value) else "FAIL")
            lines.append(f"  [{verdict}] {target} {label}: {value}")
    return lines


def format_ratios(ratios: list[dict[str, Any]]) -> str:
    header = (
        f"{'target':<13} {'c':>3} {'anon/ceil':>9} {'home/ceil':>9} {'create/ceil':>11} "
        f"{'RT req/ceil':>11} {'reveal/ceil':>11} {'RT/snap':>8} {'create/snap':>11} "
        f"{'reveal/snap':>11} {'p99 create':>10} {'p99 reveal':>10} {'p99 RT':>7}"
    )
    lines = [header, "-" * len(header)]

    def f(value: float | None, width: int) -> str:
        return f"{'-':>{width}}" if value is None else f"{value:>{width}.2f}"

    for e in ratios:
        lines.append(
            f"{e['target']:<13} {e['concurrency']:>3} {f(e['home_anon_vs_ceiling'], 9)} "
            f"{f(e['home_vs_ceiling'], 9)} {f(e['create_vs_ceiling'], 11)} "
            f"{f(e['round_trip_requests_vs_ceiling'], 11)} {f(e['reveal_vs_ceiling'], 11)} "
            f"{f(e['round_trips_vs_snappass'], 8)} {f(e['creates_vs_snappass'], 11)} "
            f"{f(e['reveals_vs_snappass'], 11)} {f(e['create_p99_ms'], 10)} "
            f"{f(e['reveal_p99_ms'], 10)} {f(e['round_trip_p99_ms'], 7)}"
        )
    lines += [
        "",
        "The same shares by the servers' CPU time per request (steadier on a busy machine):",
    ]
    for e in ratios:
        lines.append(
            f"{e['target']:<13} {e['concurrency']:>3} anon/ceil {f(e['cpu_home_anon_vs_ceiling'], 5)}"
            f"  home/ceil {f(e['cpu_home_vs_ceiling'], 5)}"
            f"  RT/snap {f(e['cpu_round_trip_vs_snappass'], 5)}"
        )
    return "\n".join(lines)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _row_json(row: Row) -> dict[str, Any]:
    return {
        "target": row.target,
        "workload": row.workload,
        "concurrency": row.concurrency,
        "peak_rss_mb": round(row.peak_rss_mb, 1),
        "cpu_us_per_request": round(row.cpu_us_per_request),
        **_rounded(asdict(row.summary)),
    }


def save_json(
    path: Path,
    meta: dict[str, Any],
    rows: list[Row],
    ratios: list[dict[str, Any]],
    every_round: list[Row] | None = None,
) -> None:
    data: dict[str, Any] = {
        "meta": meta,
        "results": [_row_json(row) for row in rows],
        "ratios": ratios,
    }
    if every_round and len(every_round) > len(rows):
        # The rounds not chosen as median, for judging the noise: rate and p99 only.
        data["all_rounds"] = [
            {
                "target": row.target,
                "workload": row.workload,
                "concurrency": row.concurrency,
                "requests_per_s": round(row.summary.requests_per_s, 1),
                "p99_ms": round(row.summary.p99_ms, 1),
            }
            for row in every_round
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def save_chart(path: Path, rows: list[Row]) -> None:
    """Requests/s of every target and workload as a share of the ceiling at the same concurrency."""
    # Optional and imported by name, so neither running nor type-checking needs it installed.
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        print("matplotlib is not installed: no chart", flush=True)
        return
    matplotlib.use("Agg")  # no display on servers and CI
    plt = importlib.import_module("matplotlib.pyplot")

    index = _key(rows)
    concurrencies = sorted({row.concurrency for row in rows})
    present = {row.workload for row in rows}
    workloads = [w for w in ALL_WORKLOADS if w in present]
    # The ceiling is the 1.0 line itself, so it gets no bars.
    targets = [t for t in (*APP_TARGETS, SNAPPASS) if any(r.target == t for r in rows)]
    fig, axes = plt.subplots(1, len(workloads), figsize=(3.2 * len(workloads), 3.2), sharey=True)
    axes_list = list(axes) if len(workloads) > 1 else [axes]
    width = 0.8 / max(len(targets), 1)
    for ax, workload in zip(axes_list, workloads, strict=True):
        for i, target in enumerate(targets):
            values = []
            for c in concurrencies:
                row = index.get((target, workload, c))
                ceiling = index.get((CEILING, workload, c))
                share = (
                    row.summary.requests_per_s / ceiling.summary.requests_per_s
                    if row and ceiling and ceiling.summary.requests_per_s
                    else 0.0
                )
                values.append(share)
            positions = [x + i * width for x in range(len(concurrencies))]
            ax.bar(positions, values, width, label=target)
        ax.set_title(workload.replace("_", " "))
        ax.set_xticks([x + width * (len(targets) - 1) / 2 for x in range(len(concurrencies))])
        ax.set_xticklabels([f"c={c}" for c in concurrencies])
        ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--", label="ceiling")
    axes_list[0].set_ylabel("requests/s ÷ ceiling")
    axes_list[-1].legend(fontsize=7)
    fig.suptitle("requests/s as a share of the ceiling (same run)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
