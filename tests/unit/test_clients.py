"""Who a request comes from: a forwarding header counts only from a trusted proxy (api/clients.py)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from api.clients import client_address

pytestmark = pytest.mark.unit


def request(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", f.encode()) for f in forwarded]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "client": (peer, 5000)})


def test_without_trusted_proxies_a_forwarding_header_changes_nothing():
    assert client_address(request("203.0.113.7", "10.1.1.1"), []) == "203.0.113.7"


def test_a_forged_header_from_an_untrusted_client_is_ignored():
    assert client_address(request("203.0.113.7", "10.1.1.1"), ["127.0.0.1"]) == "203.0.113.7"


def test_behind_a_trusted_proxy_the_visitor_is_the_nearest_untrusted_entry():
    # The visitor sent a made-up entry; the proxy appended the real address: the real one counts.
    assert client_address(request("127.0.0.1", "6.6.6.6, 198.51.100.4"), ["127.0.0.1"]) == "198.51.100.4"
    # Two proxies of ours in a row (a network given as CIDR) are both skipped.
    got = client_address(request("127.0.0.1", "198.51.100.4, 10.0.0.5"), ["127.0.0.1", "10.0.0.0/8"])
    assert got == "198.51.100.4"
    # Several header lines are read as one list.
    assert client_address(request("127.0.0.1", "6.6.6.6", "198.51.100.9"), ["127.0.0.1"]) == "198.51.100.9"


def test_ipv6_and_ports_in_the_header_are_understood():
    assert client_address(request("::1", "[2001:db8::1]:4711"), ["::1"]) == "2001:db8::1"
    assert client_address(request("127.0.0.1", "198.51.100.4:5555"), ["127.0.0.1"]) == "198.51.100.4"


def test_a_garbled_or_missing_header_from_the_proxy_counts_the_proxy_not_a_made_up_name():
    assert client_address(request("127.0.0.1", "not an address"), ["127.0.0.1"]) == "127.0.0.1"
    assert client_address(request("127.0.0.1"), ["127.0.0.1"]) == "127.0.0.1"


def test_the_action_route_answers_loopback_callers_only():
    from api.routes.actions import _loopback

    assert _loopback("127.0.0.1") and _loopback("::1") and _loopback("127.0.0.2")
    assert not _loopback("10.0.0.1") and not _loopback("203.0.113.7") and not _loopback("")
