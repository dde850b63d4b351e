"""Who the client is: its address, from the TCP peer or, behind a trusted proxy, from what
the proxy says (``X-Forwarded-For`` or RFC 7239 ``Forwarded``).

A header that names the client is only believed when the TCP peer is one of
``STREAMER_TRUSTED_PROXIES``: anybody can send ``X-Forwarded-For: 1.2.3.4``. Behind the
proxy, the chain is read from the right, the way nginx's ``real_ip_recursive on`` and
Werkzeug's ``ProxyFix`` do: each trusted proxy appends the address it saw, so the rightmost
address that is not a trusted proxy is the one the nearest untrusted hop connected from; what
is left of it was written by the client and proves nothing. Only one header is read
(``STREAMER_CLIENT_ADDRESS_HEADER``): a proxy that writes one passes the other through
as the client sent it.

A peer without an address (gunicorn bound to a unix socket, nginx in front on the same host)
is trusted when the list holds ``unix``; otherwise it is one client, ``local``, with every
request that came that way.

An IPv6 client is its /64: one subscriber is usually given a whole /64 (RFC 6177), so a limit
per /128 would be a limit on nothing. An IPv4-mapped IPv6 address is its IPv4 address.

>>> clients = ClientAddresses(("10.0.0.0/8",))
>>> clients.of({"REMOTE_ADDR": "10.1.2.3", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9"})
'203.0.113.9'
>>> clients.of({"REMOTE_ADDR": "198.51.100.7", "HTTP_X_FORWARDED_FOR": "203.0.113.9"})
'198.51.100.7'
>>> clients.of({"REMOTE_ADDR": "2001:db8:1:2:3:4:5:6"})
'2001:db8:1:2::/64'
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["LOCAL", "UNIX", "ClientAddresses", "normal_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# What a peer without an address is (a unix socket bind): one client, all of them.
LOCAL = "local"
# In the trusted list: a peer without an address is a trusted proxy.
UNIX = "unix"


@functools.lru_cache(maxsize=16384)  # a client's every request has the same peer string
def _parse(raw: str) -> IPAddress | None:
    """An address as a header or the peer gives it (``1.2.3.4``, ``1.2.3.4:80``,
    ``[2001:db8::1]:80``, ``"[2001:db8::1]"``), else None."""
    text = raw.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port (some proxies write one)
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@functools.lru_cache(maxsize=16384)
def normal_address(address: IPAddress) -> str:
    """The name a limit counts ``address`` under: IPv4 as it is, IPv6 as its /64."""
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


def _forwarded_for(value: str) -> list[str]:
    """The ``for=`` of each element of an RFC 7239 ``Forwarded`` value, in order (an element
    without one gives ``""``: a hop that did not say)."""
    found = []
    for element in value.split(","):
        said = ""
        for pair in element.split(";"):
            name, eq, content = pair.partition("=")
            if eq and name.strip().lower() == "for":
                said = content.strip()
        found.append(said)
    return found


class ClientAddresses:
    """Reads a request's client address, trusting ``trusted`` proxies (IPs or CIDRs)."""

    def __init__(self, trusted: Iterable[str], header: str = "x-forwarded-for") -> None:
        names = tuple(trusted)
        self._trust_unix = UNIX in names
        self._trusted = tuple(ipaddress.ip_network(t, strict=False) for t in names if t != UNIX)
        if header not in ("x-forwarded-for", "forwarded"):
            raise ValueError(f"no such client address header: {header}")
        self._environ_key = (
            "HTTP_X_FORWARDED_FOR" if header == "x-forwarded-for" else ("HTTP_FORWARDED")
        )

    def _is_trusted(self, address: IPAddress) -> bool:
        return any(address in network for network in self._trusted)

    def of(self, environ: Mapping[str, Any]) -> str:
        """The client address of the request with this WSGI ``environ``."""
        raw_peer = str(environ.get("REMOTE_ADDR") or "")
        peer = _parse(raw_peer)
        if peer is None:
            if raw_peer or not self._trust_unix:
                return LOCAL
        elif not self._trusted or not self._is_trusted(peer):
            return normal_address(peer)
        raw = environ.get(self._environ_key)
        if not raw:
            # The proxy itself (a health check), or it said nothing.
            return LOCAL if peer is None else normal_address(peer)
        chain = (
            raw.split(",") if self._environ_key == "HTTP_X_FORWARDED_FOR" else _forwarded_for(raw)
        )
        nearest = peer  # the hop that wrote the entry being read (None: over the unix socket)
        for entry in reversed(chain):
            address = _parse(entry)
            if address is None:
                # Not an address ("unknown", an obfuscated name, garbage): the hop that wrote
                # it is the last one known, so the limit falls on that hop.
                break
            if not self._is_trusted(address):
                return normal_address(address)
            nearest = address
        # Proxies all the way (the leftmost one), or a hop that named nobody.
        return LOCAL if nearest is None else normal_address(nearest)
