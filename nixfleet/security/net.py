"""Who is asking, and from where: client address, scheme and origin, trusting proxy headers only from proxies.

`X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host` are believed only when the TCP peer is one of
`NIXFLEET_TRUSTED_PROXIES` (IP addresses or CIDR networks). From anybody else they are ignored — and stripped by the
security middleware, so nothing further down (NiceGUI's prefix redirects included) can be fooled by them.

The client address behind trusted proxies is found by walking `X-Forwarded-For` from the right (the hop our proxy
added) to the left, skipping addresses that are themselves trusted proxies; the first untrusted one is the client.
Entries to its left were written by the client and prove nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import Scope

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Headers a proxy sets; from untrusted peers they are removed before any handler sees them.
FORWARDED_HEADERS = frozenset(
    {b'x-forwarded-for', b'x-forwarded-proto', b'x-forwarded-host', b'x-forwarded-prefix', b'x-real-ip', b'forwarded'}
)
#: IPv6 clients are counted per /64 (one subscriber's usual allocation), so a client cannot dodge the login rate
#: limit by cycling through the addresses of its own prefix.
IPV6_CLIENT_PREFIX = 64
#: Where the security middleware leaves the `RequestFacts` of a connection in its ASGI scope.
FACTS_KEY = 'nixfleet.facts'
_DEFAULT_PORTS = {'http': 80, 'https': 443, 'ws': 80, 'wss': 443}
_SECURE = {'https', 'wss'}


def parse_ip(text: str) -> IPAddress | None:
    """An IP address from a header or scope value (brackets, zone ids and IPv4-mapped IPv6 handled), or None."""
    text = text.strip().strip('"')
    if text.startswith('['):
        text = text[1:].partition(']')[0]
    elif text.count(':') == 1:  # IPv4 with a port
        text = text.partition(':')[0]
    text = text.partition('%')[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Networks from `NIXFLEET_TRUSTED_PROXIES` entries; raise ValueError naming the first bad entry."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f'NIXFLEET_TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR network') from None
    return tuple(networks)


def rate_key(address: IPAddress | None) -> str:
    """The key a client is counted under: its IPv4 address, or its IPv6 /64."""
    if address is None:
        return 'unknown'
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False))
    return str(address)


def _origin_of(url: str) -> str | None:
    """`scheme://host[:port]` (lower case, default port dropped) of an Origin or Referer value, or None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or '').lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ':' in host:
        host = f'[{host}]'
    return f'{scheme}://{host}' + (f':{port}' if port and port != _DEFAULT_PORTS[scheme] else '')


def normalize_origin(value: str) -> str | None:
    """An origin in the form browsers send it, for comparing configured and presented origins."""
    return _origin_of(value)


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the dashboard believes about one request's origin, after applying the proxy rules."""

    peer: IPAddress | None  #: the TCP peer
    client: IPAddress | None  #: the client (the peer, or the address a trusted proxy reported)
    scheme: str  #: `http` or `https` as the browser used it
    host: str  #: the host (and port) the browser addressed
    via_trusted_proxy: bool

    @property
    def https(self) -> bool:
        """Whether the browser reached the dashboard over TLS."""
        return self.scheme == 'https'

    @property
    def rate_key(self) -> str:
        """The key the client is rate-limited under."""
        return rate_key(self.client)

    @property
    def client_text(self) -> str:
        """The client address for logs and audit events."""
        return str(self.client) if self.client is not None else 'unknown'

    @property
    def own_origin(self) -> str | None:
        """The dashboard's origin as the browser sees it (None when the Host header is unusable)."""
        return _origin_of(f'{self.scheme}://{self.host}') if self.host else None


class ProxyTrust:
    """Apply `NIXFLEET_TRUSTED_PROXIES` to requests and WebSockets."""

    def __init__(self, trusted: Iterable[str] = ()) -> None:
        self.networks = parse_networks(trusted)

    def trusts(self, address: IPAddress | None) -> bool:
        """Whether an address is a configured proxy."""
        return address is not None and any(address in network for network in self.networks)

    def facts(self, scope: Scope) -> RequestFacts:
        """Client address, scheme and host of an HTTP or WebSocket scope."""
        headers = Headers(scope=scope)
        client = scope.get('client')
        peer = parse_ip(str(client[0])) if client else None
        raw_scheme = str(scope.get('scheme') or 'http')
        scheme = 'https' if raw_scheme in _SECURE else 'http'
        host = headers.get('host', '')
        if not self.trusts(peer):
            return RequestFacts(peer, peer, scheme, host, via_trusted_proxy=False)
        return RequestFacts(
            peer,
            self._forwarded_client(headers, peer),
            self._forwarded_scheme(headers) or scheme,
            _last(headers.get('x-forwarded-host', '')) or host,
            via_trusted_proxy=True,
        )

    def _forwarded_client(self, headers: Headers, peer: IPAddress | None) -> IPAddress | None:
        hops = [part for value in headers.getlist('x-forwarded-for') for part in value.split(',')]
        client = peer
        for hop in reversed(hops):
            address = parse_ip(hop)
            if address is None:
                break  # garbage: keep the last hop we could believe
            client = address
            if not self.trusts(address):
                break
        return client

    @staticmethod
    def _forwarded_scheme(headers: Headers) -> str | None:
        value = _last(headers.get('x-forwarded-proto', '')).lower()
        return {'https': 'https', 'wss': 'https', 'http': 'http', 'ws': 'http'}.get(value)


def _last(value: str) -> str:
    """The last entry of a comma-separated header (the one the nearest proxy wrote)."""
    return value.rpartition(',')[2].strip()


class OriginPolicy:
    """Which browser origins may open WebSockets and send cookie-authenticated state changes.

    Allowed: the dashboard's own origin (as the browser addressed it) and every `NIXFLEET_ALLOWED_ORIGINS` entry.
    When the dashboard does not know the request came over TLS (a TLS proxy that is not a trusted proxy), the
    `https` twin of its own origin is allowed too: only the dashboard itself can serve a page from it.
    """

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.allowed = frozenset(o for o in (normalize_origin(a) for a in allowed) if o)

    def allows(self, origin: str, facts: RequestFacts) -> bool:
        """Whether a presented `Origin` (or the origin of a `Referer`) is acceptable for this request."""
        presented = normalize_origin(origin)
        if presented is None:
            return False  # includes the opaque origin `null`
        if presented in self.allowed:
            return True
        own = facts.own_origin
        if own is None:
            return False
        if presented == own:
            return True
        return not facts.https and presented == _origin_of(f'https://{facts.host}')


def request_facts(conn: HTTPConnection) -> RequestFacts:
    """The facts the security middleware worked out for this connection (computed here for apps without it)."""
    facts = conn.scope.get(FACTS_KEY)
    if not isinstance(facts, RequestFacts):
        trust = getattr(conn.app.state, 'proxies', None) if 'app' in conn.scope else None
        facts = (trust if isinstance(trust, ProxyTrust) else ProxyTrust()).facts(conn.scope)
        conn.scope[FACTS_KEY] = facts
    return facts
