"""The outermost layer of every request and WebSocket: proxy rules, origin checks, security headers.

For each connection it
- works out the client address, scheme and host (`nixfleet.security.net`), and strips proxy headers sent by peers
  that are not trusted proxies, so no handler below (NiceGUI's included) can be fooled by them;
- refuses (403) a browser WebSocket whose `Origin` is neither the dashboard's own nor listed in
  `NIXFLEET_ALLOWED_ORIGINS` — agent and API-token clients send no `Origin` (or an `Authorization` header, which a
  browser cannot put on a WebSocket) and pass;
- refuses (403) a state-changing request (POST, PUT, PATCH, DELETE) that carries the session cookie and no
  `Authorization` header when its `Origin` — or, without one, its `Referer` — is foreign (CSRF). A request with
  neither header is not from a browser page and passes; API-token requests are not exposed to CSRF and pass;
- refuses (403) any request to NiceGUI's socket.io long-polling (`/_nicegui_ws/`) with a foreign `Origin`, so
  the CORS answers socket.io gives (it allows every origin) only ever reach the dashboard's own pages;
- refuses requests whose headers exceed `MAX_HEADER_BYTES` (431) or whose body exceeds `MAX_BODY_BYTES` (413);
- adds the security headers to every HTTP response, NiceGUI's pages included.

It is plain ASGI (no `BaseHTTPMiddleware`), so streamed responses and WebSockets pass through untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nixfleet.config import ConfigError, Settings
from nixfleet.security.context import RequestContext, current_request
from nixfleet.security.net import FACTS_KEY, FORWARDED_HEADERS, OriginPolicy, ProxyTrust, RequestFacts
from nixfleet.security.sessions import COOKIE_NAME

log = logging.getLogger(__name__)

#: The session cookie: a state-changing request carrying it is checked for its origin.
SESSION_COOKIE = COOKIE_NAME
#: Builds the `/api` error envelope (code, message) as bytes (nixfleet.api.errors.error_json).
ErrorBody = Callable[[str, str], bytes]

#: The strictest policy NiceGUI 3.18 works under, found by loading the dashboard in chromium with each source removed
#: in turn (tests/security/test_browser_csp.py): Vue compiles NiceGUI's element templates in the browser
#: (`'unsafe-eval'`), and NiceGUI pages carry inline scripts and styles (`'unsafe-inline'`). Images may be data:
#: URIs (harmless, and common in Quasar/NiceGUI elements). Everything else comes from the dashboard's own origin,
#: nothing may frame it, and forms post only to it.
CONTENT_SECURITY_POLICY = '; '.join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
#: FastAPI's API explorer pages (`/docs`, `/redoc`) load Swagger UI / ReDoc from the jsDelivr CDN with an inline
#: bootstrap script. Decision: they keep working, with that one CDN origin allowed on those pages only; every other
#: page — the dashboard itself — runs no third-party code.
DOCS_CDN = 'https://cdn.jsdelivr.net'
DOCS_PATHS = frozenset({'/docs', '/docs/oauth2-redirect', '/redoc'})
DOCS_CONTENT_SECURITY_POLICY = '; '.join(
    (
        "default-src 'self'",
        f"script-src 'self' 'unsafe-inline' {DOCS_CDN}",
        f"style-src 'self' 'unsafe-inline' {DOCS_CDN}",
        "img-src 'self' data: https://fastapi.tiangolo.com",
        f"font-src 'self' data: {DOCS_CDN}",
        f"worker-src 'self' blob: {DOCS_CDN}",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
#: Headers every HTTP response gets (unless the handler set them itself).
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ('content-security-policy', CONTENT_SECURITY_POLICY),
    ('x-frame-options', 'DENY'),
    ('x-content-type-options', 'nosniff'),
    ('referrer-policy', 'same-origin'),
    ('cross-origin-opener-policy', 'same-origin'),
)
#: Only sent when the browser came over HTTPS (directly or as a trusted proxy says): on plain HTTP it would be
#: ignored at best, and a wrong one locks browsers out of a dashboard that has no TLS.
HSTS = ('strict-transport-security', 'max-age=31536000')
#: Paths whose answers hold fleet data and must not be stored by browsers or shared caches.
NO_STORE_PREFIXES = ('/api/', '/metrics', '/login', '/logout')

#: Largest total of request header names and values handled (cookies included); larger requests get 431.
MAX_HEADER_BYTES = 64 * 1024
#: Largest request body handled (no route takes more than a few KiB); larger ones get 413.
MAX_BODY_BYTES = 1024 * 1024

_SAFE_METHODS = frozenset({'GET', 'HEAD', 'OPTIONS', 'TRACE'})
#: HTTP paths whose every request with a foreign `Origin` is refused: NiceGUI's socket.io long-polling, the HTTP
#: twin of its WebSocket.
ORIGIN_CHECKED_PREFIXES = ('/_nicegui_ws/',)


class SecurityMiddleware:
    """Proxy rules, origin checks and security headers around the whole app."""

    def __init__(self, app: ASGIApp, *, proxies: ProxyTrust, origins: OriginPolicy, error_body: ErrorBody) -> None:
        self.app = app
        self.proxies = proxies
        self.origins = origins
        self._error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] not in ('http', 'websocket'):
            await self.app(scope, receive, send)
            return
        facts = self.proxies.facts(scope)
        if not facts.via_trusted_proxy:
            scope['headers'] = [(k, v) for k, v in scope.get('headers', ()) if k.lower() not in FORWARDED_HEADERS]
        scope[FACTS_KEY] = facts
        token = current_request.set(RequestContext(client=facts.client_text))
        try:
            if scope['type'] == 'websocket':
                await self._websocket(scope, receive, send, facts)
            else:
                await self._http(scope, receive, send, facts)
        finally:
            current_request.reset(token)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send, facts: RequestFacts) -> None:
        headers = Headers(scope=scope)
        origin = headers.get('origin')
        if _header_bytes(scope) > MAX_HEADER_BYTES:
            await self._deny_websocket(scope, send, 431, 'request headers too large')
            return
        if origin is not None and 'authorization' not in headers and not self.origins.allows(origin, facts):
            log.warning(
                'refused a WebSocket to %s from origin %r (client %s)', scope['path'], origin[:200], facts.client_text
            )
            await self._deny_websocket(scope, send, 403, 'origin not allowed')
            return
        await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send, facts: RequestFacts) -> None:
        path = str(scope.get('path', ''))
        if _header_bytes(scope) > MAX_HEADER_BYTES:
            await self._refuse(path, send, 431, 'request headers too large')
            return
        length = Headers(scope=scope).get('content-length', '')
        if length and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            await self._refuse(path, send, 413, 'request body too large')
            return
        if not self._same_site(scope, facts, path):
            log.warning(
                'refused a cross-origin %s %s with the session cookie (client %s)',
                scope['method'],
                path,
                facts.client_text,
            )
            await self._refuse(path, send, 403, 'cross-origin request refused')
            return
        extra = list(SECURITY_HEADERS)
        if path in DOCS_PATHS:
            extra[0] = ('content-security-policy', DOCS_CONTENT_SECURITY_POLICY)
        if facts.https:
            extra.append(HSTS)
        if path.startswith(NO_STORE_PREFIXES):
            extra.append(('cache-control', 'no-store'))

        started = False
        received = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message['type'] == 'http.response.start':
                started = True
                present = {k.lower() for k, _ in message.get('headers', ())}
                added = [(k.encode(), v.encode()) for k, v in extra if k.encode() not in present]
                message = {**message, 'headers': [*message.get('headers', ()), *added]}
            await send(message)

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message['type'] == 'http.request':
                received += len(message.get('body', b''))
                if received > MAX_BODY_BYTES:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge:  # a streamed body over the limit that the app did not turn into a 4xx itself
            if not started:
                await self._refuse(path, send, 413, 'request body too large')

    def _body(self, status: int, message: str) -> bytes:
        return self._error_body(_CODES.get(status, 'invalid_request'), message)

    async def _deny_websocket(self, scope: Scope, send: Send, status: int, message: str) -> None:
        if 'websocket.http.response' in scope.get('extensions', {}):
            body = self._body(status, message)
            headers = [(b'content-type', b'application/json'), (b'content-length', str(len(body)).encode())]
            await send({'type': 'websocket.http.response.start', 'status': status, 'headers': headers})
            await send({'type': 'websocket.http.response.body', 'body': body})
        else:
            await send({'type': 'websocket.close', 'code': 1008, 'reason': message})

    async def _refuse(self, path: str, send: Send, status: int, message: str) -> None:
        """Answer a refused HTTP request: the `/api` error envelope there, plain text elsewhere."""
        if path.startswith('/api'):
            body, content_type = self._body(status, message), b'application/json'
        else:
            body, content_type = message.encode(), b'text/plain; charset=utf-8'
        headers = [(b'content-type', content_type), (b'content-length', str(len(body)).encode())]
        headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS]
        await send({'type': 'http.response.start', 'status': status, 'headers': headers})
        await send({'type': 'http.response.body', 'body': body})

    def _same_site(self, scope: Scope, facts: RequestFacts, path: str) -> bool:
        """Whether a request may proceed (see the module docstring for the rule)."""
        headers = Headers(scope=scope)
        if path.startswith(ORIGIN_CHECKED_PREFIXES):
            origin = headers.get('origin')
            return origin is None or self.origins.allows(origin, facts)
        if scope['method'] in _SAFE_METHODS or 'authorization' in headers:
            return True
        cookies = cookie_parser(headers.get('cookie', ''))
        if SESSION_COOKIE not in cookies:
            return True
        origin = headers.get('origin')
        if origin is None:
            origin = headers.get('referer')
        return origin is None or self.origins.allows(origin, facts)


class BodyTooLarge(Exception):
    """A request body grew past `MAX_BODY_BYTES` while the app read it."""


#: Error codes of the refusals made here (the `/api` envelope's `code`).
_CODES = {403: 'forbidden', 413: 'invalid_request', 431: 'invalid_request'}


def _header_bytes(scope: Scope) -> int:
    return sum(len(k) + len(v) for k, v in scope.get('headers', ()))


def install_security(app: FastAPI, settings: Settings, error_body: ErrorBody) -> None:
    """Wrap `app` (and everything mounted on it later, NiceGUI included) in the security middleware; its refusals
    on `/api` paths carry the error envelope `error_body` builds."""
    try:
        proxies = ProxyTrust(settings.trusted_proxies)
    except ValueError as exc:
        raise ConfigError(f'invalid configuration: {exc}') from None
    app.state.proxies = proxies
    app.add_middleware(
        SecurityMiddleware, proxies=proxies, origins=OriginPolicy(settings.allowed_origins), error_body=error_body
    )
