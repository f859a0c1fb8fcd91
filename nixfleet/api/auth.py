"""The login and logout routes (`POST /login`, `POST /logout`), built on the sessions, password and TOTP checks of
nixfleet.security.

The login form posts `password` and, when TOTP is configured, `totp`; a right answer sets the session cookie and
redirects to the `next` path. Logins are limited per client address (`NIXFLEET_RATE_LIMIT` per
`NIXFLEET_RATE_WINDOW`; then HTTP 429 with `Retry-After`), the address being the peer's, or what a trusted proxy
(`NIXFLEET_TRUSTED_PROXIES`) reports. The TOTP code goes through the dashboard's one TOTP guard: a code works once,
for login or reboot.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from nixfleet.api.errors import error_response
from nixfleet.config import Settings
from nixfleet.events import EventLog
from nixfleet.models import ErrorCode, EventCategory, EventLevel
from nixfleet.security.net import request_facts
from nixfleet.security.password import verify_password
from nixfleet.security.ratelimit import AttemptLimiter, Refusal
from nixfleet.security.sessions import (
    COOKIE_NAME,
    LOGIN_PATH,
    LoginError,
    SessionSigner,
    is_https,
    login_redirect,
    safe_next,
)
from nixfleet.security.state import SecurityState
from nixfleet.security.totp import ALREADY_USED, LOGIN, TotpGuard
from nixfleet.timeutil import Clock

log = logging.getLogger(__name__)

#: A login form larger than this is refused unread (413).
MAX_LOGIN_FORM_BYTES = 16 * 1024


def _too_many(request: Request, refusal: Refusal) -> Response:
    wait = refusal.retry_after_seconds
    headers = {'Retry-After': str(wait)}
    message = f'Too many login attempts. Try again in {wait} s.'
    if 'application/json' in request.headers.get('accept', ''):
        return error_response(ErrorCode.RATE_LIMITED, message, 429, headers)
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Too many attempts · NixFleet</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
        '<body style="background:#1a1b26;color:#c0caf5;font-family:monospace;padding:3em">'
        f'<p role="alert">{html.escape(message)}</p><p><a style="color:#7aa2f7" href="{LOGIN_PATH}">Back to the '
        'login</a></p></body></html>'
    )
    return HTMLResponse(page, status_code=429, headers=headers)


async def _login_form(request: Request) -> Mapping[str, Any] | None:
    """The posted form, or None when it is too large to be a login."""
    length = request.headers.get('content-length', '')
    if length and (not length.isdigit() or int(length) > MAX_LOGIN_FORM_BYTES):
        return None
    try:
        return await request.form(max_files=0, max_fields=20, max_part_size=MAX_LOGIN_FORM_BYTES)
    except Exception:  # a malformed multipart body: as good as an empty form
        return {}


class _LoginRoutes:
    """The handlers of `POST /login` and `POST /logout` and what they use."""

    def __init__(
        self,
        settings: Settings,
        signer: SessionSigner,
        totp: TotpGuard,
        security: SecurityState,
        events: EventLog,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._signer = signer
        self._totp = totp
        self._security = security
        self._events = events
        self._limiter = AttemptLimiter(settings.rate_limit, settings.rate_window, clock)

    async def _audit(
        self, action: str, message: str, level: EventLevel, request: Request, *, actor: str = 'admin', **details: Any
    ) -> None:
        try:
            await self._events.record(
                action,
                message,
                category=EventCategory.AUDIT,
                level=level,
                actor=actor,
                details={'ip': request_facts(request).client_text, **details},
            )
        except Exception:  # journaling must never decide whether a login works
            log.exception('could not journal %s', action)

    async def login(self, request: Request) -> Response:
        """Check the password (and TOTP code), then set the session cookie and redirect to `next`."""
        facts = request_facts(request)
        refusal = self._limiter.attempt(facts.rate_key)  # before any await: concurrent attempts cannot slip past
        if refusal is not None:
            if refusal.first:
                log.warning(
                    'login attempts from %s over the limit; refusing for %d s',
                    facts.client_text,
                    refusal.retry_after_seconds,
                )
                await self._audit(
                    'login_throttled', 'login refused: too many attempts', EventLevel.WARN, request, actor='anonymous'
                )
            return _too_many(request, refusal)
        form = await _login_form(request)
        if form is None:
            return Response('login form too large', status_code=413, media_type='text/plain')
        next_path = safe_next(str(form.get('next') or '/'))
        reason, error = await self._refusal(str(form.get('password') or ''), str(form.get('totp') or ''))
        if reason is not None:
            await self._audit('login_failed', f'login refused: {reason}', EventLevel.WARN, request, actor='anonymous')
            return RedirectResponse(login_redirect(error, next_path), status_code=303)
        self._limiter.reset(facts.rate_key)
        _session, token = self._signer.issue()
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(
            COOKIE_NAME,
            token,
            max_age=int(self._signer.duration),
            path='/',
            httponly=True,
            samesite='lax',
            secure=facts.https,
        )
        await self._audit('login', 'admin logged in', EventLevel.SUCCESS, request)
        log.info('admin logged in from %s', facts.client_text)
        return response

    async def _refusal(self, password: str, code: str) -> tuple[str | None, str]:
        """Why a login is refused (None when it is not) and the login page's error code."""
        settings = self._settings
        password_hash = settings.password_hash.get_secret_value() if settings.password_hash else None
        ok = await asyncio.to_thread(verify_password, password_hash, password)  # bcrypt is deliberately slow
        if not ok:
            return 'wrong password', LoginError.CREDENTIALS
        if self._totp.configured and (blocked := self._totp.check(code, purpose=LOGIN)) is not None:
            # a wrong code gets the wrong password's message (a guesser never learns the password was right); a right
            # code already used says so, as the reboot dialog does: only who holds a code valid this minute learns
            # that the password was right
            error = LoginError.CODE_USED if blocked == ALREADY_USED else LoginError.CREDENTIALS
            return f'password right, TOTP refused ({blocked.code.value}: {blocked.message})', error
        return None, ''

    async def logout(self, request: Request) -> RedirectResponse:
        """End this session (or, with `scope=all`, every session) and send the browser to the login page."""
        session = self._signer.verify(request.cookies.get(COOKIE_NAME))
        if session is not None:
            form = await _login_form(request) or {}
            if form.get('scope') == 'all':
                epoch = await self._security.logout_everywhere()
                await self._audit('logout_all', 'admin logged out every session', EventLevel.WARN, request, epoch=epoch)
            else:
                await self._security.logout(session)
                await self._audit('logout', 'admin logged out', EventLevel.INFO, request)
        # where the session's other tabs are sent too (nixfleet.ui.tab_session): this one lands on the same page
        response = RedirectResponse(login_redirect(LoginError.LOGGED_OUT), status_code=303)
        response.delete_cookie(COOKIE_NAME, path='/', httponly=True, samesite='lax', secure=is_https(request))
        return response


def auth_router(
    settings: Settings,
    signer: SessionSigner,
    totp: TotpGuard,
    security: SecurityState,
    events: EventLog,
    clock: Clock,
) -> APIRouter:
    """Routes of the login form (the page itself is the UI's) and logout."""
    routes = _LoginRoutes(settings, signer, totp, security, events, clock)
    router = APIRouter(tags=['auth'])
    router.add_api_route(LOGIN_PATH, routes.login, methods=['POST'], include_in_schema=False)
    router.add_api_route('/logout', routes.logout, methods=['POST'], include_in_schema=False)
    return router
