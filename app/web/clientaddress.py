"""The client's address: the one answer every per-client rate limit, the audited client hash and
the access log use.

X-Forwarded-For is text the client can write. Only a proxy we trust appends to it, so walking it
from the right, past our trusted proxies, the first other entry is the address that proxy saw
connect: the client. Anything to its left was written by the client itself and is never used.
With no trusted proxies configured (the default), the header is ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from litestar.types import Scope

from app import crypto
from app.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
ProxyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[ProxyNetwork, ...]:
    return tuple(ipaddress.ip_network(entry) for entry in entries)


def parse_hop(text: str) -> IPAddress | None:
    """An X-Forwarded-For entry: an address, possibly with a port ("1.2.3.4:80", "[::1]:80")."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; compare them as IPv4.
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped or address


def _trusted(address: IPAddress, proxies: Sequence[ProxyNetwork]) -> bool:
    return any(address in network for network in proxies)


def client_address(scope: Scope, settings: Settings) -> str:
    peer = scope.get("client")
    address = str(peer[0]) if peer else ""
    proxies = _networks(settings.trusted_proxies)
    current = parse_hop(address) if proxies else None
    if current is None or not _trusted(current, proxies):
        return address
    hops = [
        hop
        for name, value in scope["headers"]
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
    ]
    for text in reversed(hops):
        hop = parse_hop(text)
        if hop is None:
            # A trusted proxy vouched for the connection, not for this text: stop at the proxy.
            return str(current)
        current = hop
        if not _trusted(hop, proxies):
            return str(hop)
    return str(current)


def client_hash(address: str, settings: Settings) -> str:
    """The keyed hash stored in audit rows and shown in the access log: never the address."""
    return crypto.pseudonymise(address, settings.secret_keys) if address else ""
