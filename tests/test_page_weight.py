"""A first visit stays light on a phone: HTML + CSS + JS, as sent over the wire, under 40 KB."""

from __future__ import annotations

import re

import httpx
import pytest

BUDGET_BYTES = 40 * 1024
ASSET = re.compile(r'<(?:link rel="stylesheet" href|script src)="([^"]+)"')


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def bytes_on_the_wire(client: httpx.AsyncClient, path: str) -> tuple[int, str]:
    """The body as the server sent it (compressed if it chose to), like a browser would get."""
    async with client.stream("GET", path, headers={"accept-encoding": "gzip, br"}) as response:
        assert response.status_code == 200, path
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
        return len(raw), response.headers.get("content-encoding", "identity")


async def test_first_visit_of_the_home_page_is_under_40_kb(client: httpx.AsyncClient) -> None:
    home = await client.get("/")
    assets = ASSET.findall(home.text)
    assert len(assets) == 4  # app.css, htmx, crypto.js, app.js: nothing else to fetch
    sizes: dict[str, tuple[int, str]] = {}
    # HTML is not compressed on purpose: pages carry secrets and CSRF tokens (BREACH).
    html_size, html_encoding = await bytes_on_the_wire(client, "/")
    sizes["/ (HTML)"] = (html_size, html_encoding)
    for path in assets:
        size, encoding = await bytes_on_the_wire(client, path)
        # Static files go out pre-compressed; a missing gzip would triple the weight.
        assert encoding == "gzip", path
        sizes[path] = (size, encoding)
    total = sum(size for size, _encoding in sizes.values())
    for path, (size, encoding) in sizes.items():
        print(f"page weight: {path:45} {size:6d} bytes ({encoding})")
    print(f"page weight: {'total':45} {total:6d} bytes (budget {BUDGET_BYTES})")
    assert total < BUDGET_BYTES
