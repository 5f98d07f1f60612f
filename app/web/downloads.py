"""A file as an HTTP answer: always an attachment, never rendered, never cached, and with its
length announced so that a download cut short is seen as broken, not saved as whole."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from litestar import Response
from litestar.response import Stream

from app import filecrypto
from app.services import downloads
from app.web.upload import safe_filename

logger = logging.getLogger("app.web")

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


def content_disposition(name: str) -> str:
    """RFC 6266: an ASCII fallback for old clients and the exact name in filename*."""
    safe = safe_filename(name)
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\%;' else "_" for c in safe
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(safe, safe='')}"


async def _completing(
    pieces: AsyncIterator[bytes], download: downloads.Download
) -> AsyncIterator[bytes]:
    try:
        async for piece in pieces:
            yield piece
    except filecrypto.StreamError:
        # Stop short: the announced length tells the browser the file is broken.
        logger.warning("a stored file failed to open part-way; the download was cut")
        return
    await downloads.finish_download(download)


def file_attachment(download: downloads.Download) -> Response[Any]:
    name = download.meta.name if download.meta else "file"
    return Stream(
        _completing(download.plain(), download),
        media_type="application/octet-stream",
        headers={
            **_HEADERS,
            "Content-Disposition": content_disposition(name),
            "Content-Length": str(download.size),
        },
    )


def sealed_stream(download: downloads.Download) -> Response[Any]:
    sealed_size = download.size + filecrypto.chunk_count(download.size) * filecrypto.TAG_BYTES
    return Stream(
        _completing(download.sealed(), download),
        media_type="application/octet-stream",
        headers={**_HEADERS, "Content-Length": str(sealed_size)},
    )
