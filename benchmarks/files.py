"""File secrets, measured (not a timed test): memory and throughput of a 25 MB upload and
download with JavaScript off, against a real uvicorn process on loopback.

It starts the local identity provider in a thread and the app under uvicorn (a fresh SQLite
database, or --database-url), signs in a staff member and a customer through the real OIDC
flow, then:

- uploads a file of --megabytes (random bytes) as a plain multipart form: the server seals it
  as it arrives, spools the sealed chunks and stores them in one transaction;
- reveals it with the link's key: the server streams the decrypted file back;
- creates --texts text secrets, for the per-request cost of the text path.

Peak RSS is the kernel's high-water mark, reset before each phase (benchmarks/appserver.py);
the growth is that peak minus the resident size just before the phase. The targets: growth < 4 chunks (256 KiB)
and >= 50 MB/s for sealing and streaming.

    python -m benchmarks.files
    python -m benchmarks.files --megabytes 25 --rounds 3 --json benchmarks/results/files.json
    python -m benchmarks.files --texts-only --app-root /tmp/main   # text creation of another checkout
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from app.db.engine import create_engine, migrate, start, stop
from app.filecrypto import CHUNK_BYTES, StreamOpener, StreamSealer
from benchmarks.appserver import ROOT, csrf, peak_rss, reset_peak, rss, served_app

LINK = re.compile(r"/s/([A-Za-z0-9_-]+)#([A-Za-z0-9_-]{43})")
MB = 1_000_000


async def pieces(data: bytes, size: int = 1 << 20) -> AsyncIterator[bytes]:
    for start_at in range(0, len(data), size):
        yield data[start_at : start_at + size]


def multipart(boundary: str, token: str, recipient: str, data: bytes) -> list[bytes]:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="_csrf_token"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="recipient_email"\r\n\r\n'
        f"{recipient}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return [head, data, f"\r\n--{boundary}--\r\n".encode()]


async def body_of(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        async for piece in pieces(part):
            yield piece


async def one_round(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient, pid: int, data: bytes
) -> dict[str, float]:
    boundary = "bench" + os.urandom(8).hex()
    parts = multipart(boundary, staff.cookies.get("safe_share_csrf") or "", "bob@example.com", data)
    baseline = rss(pid)
    reset_peak(pid)
    began = time.perf_counter()
    created = await staff.post(
        "/secrets",
        content=body_of(parts),
        headers={
            "content-type": f"multipart/form-data; boundary={boundary}",
            "content-length": str(sum(len(p) for p in parts)),
        },
    )
    upload_seconds = time.perf_counter() - began
    upload_growth = peak_rss(pid) - baseline
    assert created.status_code == 200, created.text[:500]
    match = LINK.search(created.text)
    assert match, created.text[:500]

    baseline = rss(pid)
    reset_peak(pid)
    digest = hashlib.sha256()
    began = time.perf_counter()
    async with customer.stream(
        "POST", f"/s/{match.group(1)}/reveal", data={"key": match.group(2)}, headers=csrf(customer)
    ) as response:
        assert response.status_code == 200, response.status_code
        async for piece in response.aiter_bytes():
            digest.update(piece)
    download_seconds = time.perf_counter() - began
    download_growth = peak_rss(pid) - baseline
    assert digest.digest() == hashlib.sha256(data).digest(), "the download differs"
    return {
        "upload_mb_s": len(data) / MB / upload_seconds,
        "upload_rss_growth_kib": upload_growth / 1024,
        "download_mb_s": len(data) / MB / download_seconds,
        "download_rss_growth_kib": download_growth / 1024,
    }


async def text_creates(staff: httpx.AsyncClient, count: int) -> list[float]:
    times = []
    for n in range(count):
        began = time.perf_counter()
        response = await staff.post(
            "/secrets",
            data={"content": f"text secret {n}", "recipient_email": "bob@example.com"},
            headers=csrf(staff),
        )
        times.append(time.perf_counter() - began)
        assert response.status_code == 200, response.status_code
    return times


def in_process(data: bytes) -> dict[str, float]:
    """Sealing and opening alone, one thread, no HTTP and no database: the crypto's ceiling."""
    key = os.urandom(32)
    began = time.perf_counter()
    sealer = StreamSealer(key)
    sealed = []
    for start_at in range(0, len(data), CHUNK_BYTES):
        sealed += sealer.feed(data[start_at : start_at + CHUNK_BYTES])
    sealed.append(sealer.finish())
    seal_seconds = time.perf_counter() - began
    began = time.perf_counter()
    opener = StreamOpener(key, sealer.prefix)
    for piece in sealed:
        opener.feed(piece)
    opener.finish()
    open_seconds = time.perf_counter() - began
    return {"seal_mb_s": len(data) / MB / seal_seconds, "open_mb_s": len(data) / MB / open_seconds}


async def run(args: argparse.Namespace) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="safe-share-files-bench-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite'}"
    engine = create_engine(database_url)
    await start(engine)
    await migrate(engine)
    await stop(engine)
    data = os.urandom(args.megabytes * MB)
    limit = {"SAFE_SHARE_MAX_FILE_BYTES": str(max(len(data), 25 * MB))}
    async with served_app(
        database_url, workdir / "app.log", app_root=args.app_root, env=limit, client_timeout=120
    ) as served:
        staff, customer = served.staff, served.customer
        await text_creates(staff, 20)  # warm up
        if args.texts_only:
            texts = await text_creates(staff, args.texts)
            return {"text_create_ms_median": statistics.median(texts) * 1000}
        await one_round(staff, customer, served.pid, os.urandom(2 * MB))
        rounds = [await one_round(staff, customer, served.pid, data) for _ in range(args.rounds)]
        texts = await text_creates(staff, args.texts)

    def best(key: str, low: bool = False) -> float:
        values = [r[key] for r in rounds]
        return min(values) if low else max(values)

    result: dict[str, object] = {
        "megabytes": args.megabytes,
        "rounds": rounds,
        "chunk_kib": CHUNK_BYTES // 1024,
        "upload_mb_s_median": statistics.median(r["upload_mb_s"] for r in rounds),
        "download_mb_s_median": statistics.median(r["download_mb_s"] for r in rounds),
        "upload_rss_growth_kib_max": best("upload_rss_growth_kib"),
        "download_rss_growth_kib_max": best("download_rss_growth_kib"),
        "text_create_ms_median": statistics.median(texts) * 1000,
        "text_create_ms_p90": sorted(texts)[int(len(texts) * 0.9)] * 1000,
        "in_process": in_process(data),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--megabytes", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--app-root", type=Path, default=ROOT, help="the checkout to serve")
    parser.add_argument("--texts-only", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    if args.texts_only:
        print(f"text secret create: {result['text_create_ms_median']:.1f} ms median")
        return
    limit_kib = 4 * CHUNK_BYTES / 1024
    print(f"file of {args.megabytes} MB, {args.rounds} rounds, JavaScript off (server seals):")
    print(
        f"  upload   {result['upload_mb_s_median']:6.1f} MB/s median, "
        f"peak RSS growth {result['upload_rss_growth_kib_max']:7.0f} KiB (target < {limit_kib:.0f})"
    )
    print(
        f"  download {result['download_mb_s_median']:6.1f} MB/s median, "
        f"peak RSS growth {result['download_rss_growth_kib_max']:7.0f} KiB (target < {limit_kib:.0f})"
    )
    print(
        f"  text secret create: {result['text_create_ms_median']:.1f} ms median, "
        f"{result['text_create_ms_p90']:.1f} ms p90"
    )
    crypto_only = result["in_process"]
    assert isinstance(crypto_only, dict)
    print(
        f"  in process, crypto alone: seal {crypto_only['seal_mb_s']:.0f} MB/s, "
        f"open {crypto_only['open_mb_s']:.0f} MB/s"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
