"""Where the crawler and its browser may connect: http(s) only, public addresses only.

URLs in records come from the data (a schema.org ``contentUrl``, a repository's file list), so
a record can point a request at ``file:///dev/zero``, at the cloud metadata service
(169.254.169.254) or at a service on loopback. These pure helpers say what is wrong with a
URL or an address; the downloader middleware (``middlewares/public_hosts.py``) applies them to
every Scrapy request, the browser fence (``http/browser.py``) to every request of Chromium.
``ENVISION_FENCE_ALLOW`` (host names and networks) is the one way to let private addresses
through (the test suite's local fakes). See docs/security.md.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

ALLOWED_SCHEMES = frozenset({"http", "https"})
# An empty data URI carries no bytes and touches nothing: spiders request it to be called back
# when the crawl is idle (the NEI spider). Every other non-http(s) URL is refused.
EMPTY_DATA_URL = "data:,"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(value.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:  # ::ffff:127.0.0.1
        return ip.ipv4_mapped
    return ip


def address_problem(address: str) -> str | None:
    """Why ``address`` (an IP literal) is not a public one — ``loopback``, ``link_local``,
    ``multicast``, ``unspecified``, ``private`` (RFC 1918, CGNAT, ULA, documentation and
    other non-global ranges) or ``reserved`` — or None when it is public."""
    ip = _address(address)
    if ip is None:
        return "not_an_address"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link_local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private or not ip.is_global:
        return "private"
    return None


def is_address(host: str) -> bool:
    return _address(host) is not None


def scheme_problem(url: str) -> str | None:
    """``scheme`` for anything but http(s) (file:, data:, ftp:, s3:, ...) and the empty
    ``data:,``, ``no_host`` for an http(s) URL without a host; None when the URL may be fetched
    (addresses permitting)."""
    if url == EMPTY_DATA_URL:
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return "scheme"
    if not parts.hostname:
        return "no_host"
    return None


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, the port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


@dataclass(frozen=True)
class HostAllowance:
    """``ENVISION_FENCE_ALLOW``: what may be reached although not public. An entry with a ``/``
    is a network matched against the resolved address (``127.0.0.0/8``, ``10.1.0.0/16``);
    any other entry is matched exactly against the URL's host (``mirror.lab``, ``127.0.0.1``),
    so a name that merely resolves to an allowed literal is still refused."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, values: Iterable[str]) -> HostAllowance:
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in values:
            value = str(raw).strip().lower()
            if "/" in value:
                networks.append(ipaddress.ip_network(value, strict=False))
            elif value:
                names.add(value.strip("[]"))
        return cls(frozenset(names), tuple(networks))

    def allows(self, host: str, address: str | None = None) -> bool:
        if host.lower().strip("[]") in self.names:
            return True
        ip = _address(address or host)
        return ip is not None and any(ip in network for network in self.networks)

    def __bool__(self) -> bool:
        return bool(self.names or self.networks)


def service_url_problem(url: str) -> str | None:
    """A service that receives a token (the portal's batch endpoint): https, or plain http on
    loopback only. The problem in words, or None."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return None
    if scheme != "http" or not parts.hostname:
        return f"{url!r} is not an http(s) URL"
    host = parts.hostname.lower()
    if host in LOOPBACK_NAMES or address_problem(host) == "loopback":
        return None
    return f"{url!r} is plain http to a host that is not loopback: the token would travel unencrypted; use https"
