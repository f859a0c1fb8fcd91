"""Admin authentication (SPEC §12): bcrypt password, optional TOTP, and a signed session cookie.

The session is stateless: the cookie `nixfleet_session` carries a random session id plus its issue and expiry
times, signed with the newest key of `NIXFLEET_SESSION_SECRET` (a comma-separated list, newest first; every key
in the list still verifies, so keys rotate without logging anybody out). Logout revokes the id in memory until it
would have expired anyway.

Other modules authenticate a request with `session_from_request(request)`; the login form posts to `POST /login`
(fields `password` and, when TOTP is configured, `totp`), which sets the cookie and redirects to `/`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import bcrypt
import pyotp
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import HTTPConnection

from nixfleet.config import Settings
from nixfleet.models import EventCategory, EventLevel
from nixfleet.timeutil import Clock

if TYPE_CHECKING:
    from nixfleet.app import Dashboard

log = logging.getLogger(__name__)

#: Name of the session cookie (the Go dashboard's name, so load tools and habits carry over).
COOKIE_NAME = 'nixfleet_session'
#: Namespaces the signature so a session token can never be confused with another signed value.
_SALT = 'nixfleet.session.v1'
#: Where the login form and page live.
LOGIN_PATH = '/login'


class LoginError:
    """Codes the login page turns into messages (`/login?error=<code>`)."""

    CREDENTIALS = 'credentials'  #: wrong password (or TOTP code)
    EXPIRED = 'expired'  #: the session ended while a page was open


@dataclass(frozen=True, slots=True)
class Session:
    """A verified admin session."""

    id: str
    issued_at: float
    expires_at: float

    def remaining(self, now: float) -> float:
        """Seconds until the session expires (negative once it has)."""
        return self.expires_at - now


class SessionSigner:
    """Issue and verify signed session tokens; the newest key signs, every configured key verifies."""

    def __init__(self, keys: Sequence[str], duration: float, clock: Clock = time.time) -> None:
        self._keys = [k for k in keys if k]
        self.duration = duration
        self._clock = clock
        # itsdangerous signs with the LAST key and tries all of them; our list is newest first
        self._serializer = URLSafeSerializer(list(reversed(self._keys)), salt=_SALT) if self._keys else None
        self._revoked: dict[str, float] = {}

    def issue(self) -> tuple[Session, str]:
        """Start a new session; return it and its cookie value."""
        if self._serializer is None:
            raise RuntimeError('no session key configured (NIXFLEET_SESSION_SECRET)')
        now = self._clock()
        session = Session(id=secrets.token_urlsafe(18), issued_at=now, expires_at=now + self.duration)
        token = self._serializer.dumps({'sid': session.id, 'iat': round(now, 3), 'exp': round(session.expires_at, 3)})
        return session, token

    def verify(self, token: str | None) -> Session | None:
        """Return the session a cookie value stands for, or None if it is forged, expired or revoked."""
        if not token or self._serializer is None or len(token) > 512:
            return None
        try:
            data: Any = self._serializer.loads(token)
            session = Session(id=str(data['sid']), issued_at=float(data['iat']), expires_at=float(data['exp']))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        now = self._clock()
        # a shortened NIXFLEET_SESSION_DURATION also applies to sessions issued before the change
        expires_at = min(session.expires_at, session.issued_at + self.duration)
        if now >= expires_at or session.issued_at > now + 60 or session.id in self._revoked:
            return None
        return session

    def revoke(self, session: Session) -> None:
        """End a session before its expiry (logout); remembered only until it would have expired."""
        now = self._clock()
        self._revoked = {sid: exp for sid, exp in self._revoked.items() if exp > now}
        self._revoked[session.id] = session.expires_at


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password against the configured bcrypt hash (constant time; False on any malformed input)."""
    if not password_hash or not password:
        return False
    try:
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:  # malformed hash, or a password longer than bcrypt's 72 bytes
        return False


def verify_totp(secret: str | None, code: str, now: float) -> bool:
    """Check a 6-digit TOTP code (30 s period, ±1 step, as the Go dashboard)."""
    if not secret or not code:
        return False
    code = code.strip().replace(' ', '')
    if not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(secret)
    return any(hmac.compare_digest(totp.at(now + step * totp.interval), code) for step in (-1, 0, 1))


def session_from_request(conn: HTTPConnection, settings: Settings | None = None) -> Session | None:
    """Return the valid admin session of a request or WebSocket, or None (no cookie, forged, expired, revoked).

    The signer installed by `install_auth` on the app is used (it knows about logouts); `settings` is a fallback
    for apps without it (a signer built from those settings, which cannot know about revocations).
    """
    signer: SessionSigner | None = getattr(conn.app.state, 'sessions', None) if 'app' in conn.scope else None
    if signer is None:
        if settings is None:
            raise RuntimeError('no session signer on this app (nixfleet.api.auth.install_auth) and no settings')
        signer = SessionSigner(settings.session_keys, settings.session_duration)
    return signer.verify(conn.cookies.get(COOKIE_NAME))


def is_https(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (directly, or as a proxy says; only tightens the cookie)."""
    return request.url.scheme == 'https' or request.headers.get('x-forwarded-proto', '').lower() == 'https'


def safe_next(target: str | None) -> str:
    """A local path to return to after login; anything else (other hosts, schemes) becomes `/`."""
    if not target or not target.startswith('/') or target.startswith('//') or '\\' in target:
        return '/'
    return target


def login_redirect(error: str | None = None, next_path: str | None = None) -> str:
    """URL of the login page with an optional error code and return path."""
    query = {k: v for k, v in (('error', error), ('next', next_path)) if v and v != '/'}
    return LOGIN_PATH + (f'?{urlencode(query)}' if query else '')


def install_auth(app: FastAPI, dashboard: Dashboard) -> SessionSigner:
    """Add `POST /login` and `POST /logout` to `app` and install the session signer on its state."""
    settings = dashboard.settings
    signer = SessionSigner(settings.session_keys, settings.session_duration, dashboard.clock)
    app.state.sessions = signer
    app.include_router(auth_router(dashboard, signer))
    return signer


def auth_router(dashboard: Dashboard, signer: SessionSigner) -> APIRouter:
    """Routes of the login form (the page itself is the UI's) and logout."""
    settings = dashboard.settings
    router = APIRouter(tags=['auth'])

    async def audit(action: str, message: str, level: EventLevel, request: Request) -> None:
        ip = request.client.host if request.client else ''
        try:
            await dashboard.events.record(
                action, message, category=EventCategory.AUDIT, level=level, actor='admin', details={'ip': ip}
            )
        except Exception:  # journaling must never decide whether a login works
            log.exception('could not journal %s', action)

    @router.post(LOGIN_PATH, include_in_schema=False)
    async def login(request: Request) -> RedirectResponse:
        form = await request.form()
        password = str(form.get('password') or '')
        code = str(form.get('totp') or '')
        next_path = safe_next(str(form.get('next') or '/'))
        password_hash = settings.password_hash.get_secret_value() if settings.password_hash else None
        totp_secret = settings.totp_secret.get_secret_value() if settings.totp_secret else None
        ok = await asyncio.to_thread(verify_password, password_hash, password)  # bcrypt is deliberately slow
        if ok and totp_secret and not verify_totp(totp_secret, code, dashboard.clock()):
            ok = False  # one message for both factors: a failed login never confirms the password
            reason = 'missing or wrong TOTP code'
        else:
            reason = 'wrong password'
        if not ok:
            await audit('login_failed', f'login refused: {reason}', EventLevel.WARN, request)
            return RedirectResponse(login_redirect(LoginError.CREDENTIALS, next_path), status_code=303)
        _session, token = signer.issue()
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(
            COOKIE_NAME,
            token,
            max_age=int(signer.duration),
            path='/',
            httponly=True,
            samesite='lax',
            secure=is_https(request),
        )
        await audit('login', 'admin logged in', EventLevel.SUCCESS, request)
        log.info('admin logged in from %s', request.client.host if request.client else '?')
        return response

    @router.post('/logout', include_in_schema=False)
    async def logout(request: Request) -> RedirectResponse:
        session = session_from_request(request)
        if session is not None:
            signer.revoke(session)
            await audit('logout', 'admin logged out', EventLevel.INFO, request)
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        response.delete_cookie(COOKIE_NAME, path='/', httponly=True, samesite='lax', secure=is_https(request))
        return response

    return router
