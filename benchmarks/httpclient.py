"""A tiny HTTP/1.1 keep-alive client for loopback load generation.

httpx costs several times more CPU per request than the servers under test spend on a small
page; on a 2-core machine that would make the load generator the bottleneck and squash every
ratio towards 1. This client does only what the benchmark needs: one connection, keep-alive,
Content-Length or chunked bodies, and a cookie jar that ignores the Secure flag (the servers
run with production cookie settings behind no TLS on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 8 * 1024 * 1024


class HttpError(Exception):
    """The server answered with something this client cannot parse, or hung up."""


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass
class CookieJar:
    """Cookies of one virtual user: a flat name→value map, enough for one host."""

    cookies: dict[str, str] = field(default_factory=dict)

    def update(self, response: Response) -> None:
        for raw in response.header_values("set-cookie"):
            first, _, attributes = raw.partition(";")
            name, sep, value = first.strip().partition("=")
            if not sep or not name:
                continue
            lowered = attributes.lower().replace(" ", "")
            if "max-age=0" in lowered or "expires=thu,01jan1970" in lowered or value == "":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value.strip('"')

    def header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def copy(self) -> CookieJar:
        return CookieJar(dict(self.cookies))


class HttpConnection:
    """One keep-alive connection to 127.0.0.1; reconnects when the server closes it."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("benchmarks only target loopback")
        self.host = host
        self.port = port
        self.timeout = timeout
        self.host_header = f"{host}:{port}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reused = False

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        jar: CookieJar | None = None,
    ) -> Response:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host_header}", "Accept: text/html"]
        body = b""
        if form is not None:
            body = urlencode(form).encode()
            lines.append("Content-Type: application/x-www-form-urlencoded")
        if form is not None or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        if jar is not None and jar.cookies:
            lines.append(f"Cookie: {jar.header()}")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

        async with asyncio.timeout(self.timeout):
            response = await self._send(payload, method)
        if jar is not None:
            jar.update(response)
        return response

    async def _send(self, payload: bytes, method: str) -> Response:
        for attempt in (1, 2):
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
                self._reused = False
            reused = self._reused
            try:
                assert self._writer is not None
                assert self._reader is not None
                self._writer.write(payload)
                await self._writer.drain()
                response, keep_alive = await _read_response(self._reader, method)
            except (ConnectionError, asyncio.IncompleteReadError, HttpError) as exc:
                await self.close()
                # An idle keep-alive connection the server already closed: retry once on a new
                # one, as browsers do. A fresh connection failing is a real error.
                if reused and attempt == 1 and _nothing_received(exc):
                    continue
                raise HttpError(f"{type(exc).__name__}: {exc}") from exc
            if keep_alive:
                self._reused = True
            else:
                await self.close()
            return response
        raise HttpError("unreachable")  # pragma: no cover


def _nothing_received(exc: BaseException) -> bool:
    if isinstance(exc, asyncio.IncompleteReadError):
        return not exc.partial
    return isinstance(exc, ConnectionError)


async def _read_response(reader: asyncio.StreamReader, method: str) -> tuple[Response, bool]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise HttpError("response head too large") from exc
    if len(head) > MAX_HEADER_BYTES:
        raise HttpError("response head too large")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise HttpError(f"bad status line {status_line!r}")
    version, status = parts[0], int(parts[1])
    headers: list[tuple[str, str]] = []
    for line in header_lines:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    response = Response(status, headers, b"")
    connection = (response.header("connection") or "").lower()
    keep_alive = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)

    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return response, keep_alive
    if "chunked" in (response.header("transfer-encoding") or "").lower():
        response.body = await _read_chunked(reader)
    elif (length := response.header("content-length")) is not None:
        size = int(length)
        if size > MAX_BODY_BYTES:
            raise HttpError("response body too large")
        response.body = await reader.readexactly(size)
    else:
        response.body = await reader.read(MAX_BODY_BYTES)
        keep_alive = False
    return response, keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            # Trailers (rare) end with an empty line.
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return b"".join(chunks)
        total += size
        if total > MAX_BODY_BYTES:
            raise HttpError("response body too large")
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


def local_path(url: str) -> str:
    """Path and query of a URL, for following a redirect back to the server under test."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
