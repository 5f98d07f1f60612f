"""Static files under content-hashed names, held in memory, pre-compressed, cached for a year."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException

from app.settings import PROJECT_ROOT

STATIC_DIR = PROJECT_ROOT / "static"
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    gzipped: bytes
    media_type: str


class StaticFiles:
    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.urls: dict[str, str] = {}
        self.files: dict[str, StaticFile] = {}
        for path in sorted(directory.iterdir()):
            if not path.is_file() or path.name.startswith("."):
                continue
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:10]
            hashed = f"{path.stem}.{digest}{path.suffix}"
            media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if media_type.startswith("text/") or media_type.endswith("javascript"):
                media_type += "; charset=utf-8"
            self.urls[path.name] = f"/static/{hashed}"
            self.files[hashed] = StaticFile(body, gzip.compress(body, 9, mtime=0), media_type)

    def url(self, name: str) -> str:
        return self.urls[name]


@get("/static/{name:str}", include_in_schema=False, sync_to_thread=False)
def serve_static(request: Request[Any, Any, Any], name: str) -> Response[bytes]:
    files: StaticFiles = request.app.state.static_files
    found = files.files.get(name)
    if found is None:
        raise NotFoundException
    headers = {"cache-control": IMMUTABLE, "vary": "accept-encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"
        return Response(found.gzipped, media_type=found.media_type, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)
