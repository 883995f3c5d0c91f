"""Who a request comes from: the connecting address, or the visitor's own behind a trusted proxy.

A forwarding header (X-Forwarded-For) is believed only when the connection comes from an address in
`web.trusted_proxies`; from anyone else it is ignored, so a client cannot pose as another and slip
past a rate limit. Behind a trusted proxy the header is read from the right (the entry the nearest
proxy added), skipping further trusted proxies, and the first other address is the client.
uvicorn's own handling of the header is turned off (api/__main__.py), so this is the one place.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def trusted_networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip())


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip('"')
    if text.startswith("["):  # [v6]:port
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(addr: ipaddress.IPv4Address | ipaddress.IPv6Address | None, networks: tuple[Network, ...]) -> bool:
    return addr is not None and any(addr in n for n in networks)


def client_address(request: Request, trusted_proxies: list[str] | tuple[str, ...]) -> str:
    """The client's address as a string ("unknown" when the server was not told)."""
    peer = request.client.host if request.client else "unknown"
    networks = trusted_networks(tuple(trusted_proxies))
    if not networks or not _trusted(_address(peer), networks):
        return peer
    forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
    for entry in reversed([e for e in forwarded.split(",") if e.strip()]):
        addr = _address(entry)
        if addr is None:
            return peer  # a garbled header from our own proxy: count the proxy, not a made-up name
        if not _trusted(addr, networks):
            return str(addr)
    return peer
