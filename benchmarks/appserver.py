"""One Safe Share under uvicorn, as production serves it, for the single-server measurements
(soak, files): a free port, the local identity provider, a staff member and a customer signed
in through the real OIDC flow; and the server's memory as the kernel counts it.

Memory comes from /proc/<pid>/status: VmRSS now, and VmHWM, the high-water mark, which
`reset_peak` sets back to the current size (Linux >= 4.0), so no short peak between two
samples is missed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from app.dev_identity import run_identity_provider
from benchmarks.servers import LOOPBACK, free_port

ROOT = Path(__file__).resolve().parent.parent
STAFF = "alice@prowise.com"
CUSTOMER = "bob@example.com"
CSRF_COOKIE = "safe_share_csrf"


def rss(pid: int) -> int:
    return _status(pid, "VmRSS")


def peak_rss(pid: int) -> int:
    return _status(pid, "VmHWM")


def reset_peak(pid: int) -> None:
    # Writing 5 resets the high-water mark to the current RSS.
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


async def sign_in(client: httpx.AsyncClient, issuer: str, email: str) -> None:
    async with httpx.AsyncClient() as idp:
        await idp.put(
            f"{issuer}/users/{email}",
            json={"email": email, "email_verified": True, "name": email.split("@", maxsplit=1)[0]},
        )
        start_response = await client.get("/auth/login")
        approved = await idp.post(start_response.headers["location"], data={"sub": email})
    callback = urlsplit(approved.headers["location"])
    done = await client.get(f"{callback.path}?{callback.query}")
    if done.status_code != 303:
        raise SystemExit(f"sign-in failed: {done.status_code}")
    await client.get("/")


def csrf(client: httpx.AsyncClient) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get(CSRF_COOKIE) or ""}


@dataclass(frozen=True)
class ServedApp:
    pid: int
    staff: httpx.AsyncClient  # STAFF, signed in
    customer: httpx.AsyncClient  # CUSTOMER, signed in


@asynccontextmanager
async def served_app(
    database_url: str,
    log_path: Path,
    *,
    app_root: Path = ROOT,
    env: Mapping[str, str] | None = None,
    client_timeout: float = 30,
) -> AsyncIterator[ServedApp]:
    """The app on a migrated database, rate limits out of the way; `env` adds settings."""
    port = free_port()
    with run_identity_provider(port=0) as issuer:
        server_env = {
            **os.environ,
            "PYTHONPATH": str(app_root),
            "SAFE_SHARE_ENV": "development",
            "SAFE_SHARE_DATABASE_URL": database_url,
            "SAFE_SHARE_OIDC_ISSUER": issuer,
            "SAFE_SHARE_BASE_URL": f"http://{LOOPBACK}:{port}",
            "SAFE_SHARE_SECRET_KEY": "bench-master-key-" + "z" * 32,
            "SAFE_SHARE_RATE_CREATE_PER_USER": "1000000",
            "SAFE_SHARE_RATE_REVEAL_PER_CLIENT": "1000000",
            "SAFE_SHARE_RATE_REVEAL_PER_SECRET": "1000000",
            **(env or {}),
        }
        with log_path.open("wb") as log:
            server = subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "app.web.app:create_served_app",
                    "--host",
                    LOOPBACK,
                    "--port",
                    str(port),
                    "--no-access-log",
                    "--no-proxy-headers",  # the app reads X-Forwarded-For itself
                    "--log-level",
                    "warning",
                ],
                env=server_env,
                cwd=app_root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            base = f"http://{LOOPBACK}:{port}"
            async with (
                httpx.AsyncClient(base_url=base, timeout=client_timeout) as staff,
                httpx.AsyncClient(base_url=base, timeout=client_timeout) as customer,
            ):
                for _ in range(300):
                    try:
                        if (await staff.get("/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
                await sign_in(staff, issuer, STAFF)
                await sign_in(customer, issuer, CUSTOMER)
                yield ServedApp(server.pid, staff, customer)
        finally:
            server.terminate()
            server.wait(30)
