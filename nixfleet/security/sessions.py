"""Admin sessions: the signed session cookie, its signer and the helpers that read it from a request.

The session is stateless: the cookie `nixfleet_session` carries a random session id, its issue and expiry times and
the session epoch, signed with the newest key of `NIXFLEET_SESSION_SECRET` (a comma-separated list, newest first;
every key in the list still verifies, so keys rotate without logging anybody out). A session ends when
- it expires (`NIXFLEET_SESSION_DURATION`, also when the duration is shortened after it was issued);
- its signing key is no longer configured (drop a key from the list: everybody signed with it is logged out);
- the password hash or the TOTP secret changes (the signature is bound to a fingerprint of both);
- it logs out (`POST /logout`: its id is revoked), or anybody logs out everywhere (`POST /logout` with
  `scope=all`: the epoch is bumped, and every session issued before is invalid).
Revocations and the epoch are kept in the `settings` table (nixfleet.security.state), so they survive restarts.
However a session ends, its open tabs and `/api/sync` sockets end with it (nixfleet.security.links).
The login and logout routes are in nixfleet.api.auth; pages read a request's session with
`SessionSigner.of(request)`, from the signer they are given.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import HTTPConnection

from nixfleet.config import Settings
from nixfleet.security.net import request_facts
from nixfleet.timeutil import Clock

#: Name of the session cookie (the Go dashboard's name, so load tools and habits carry over).
COOKIE_NAME = 'nixfleet_session'
#: Namespaces the signature so a session token can never be confused with another signed value.
_SALT = 'nixfleet.session.v1'
#: Where the login form and page live.
LOGIN_PATH = '/login'
#: Longest cookie value considered (ours are ~150 characters); longer ones are not even parsed.
MAX_TOKEN_LENGTH = 512
#: Logged-out sessions remembered at most; one more logs everybody out instead (the epoch is bumped).
MAX_REVOKED = 1000


class LoginError:
    """Codes the login page turns into messages (`/login?error=<code>`)."""

    CREDENTIALS = 'credentials'  #: wrong password (or TOTP code)
    CODE_USED = 'code_used'  #: right password and a right TOTP code whose time step was already used
    EXPIRED = 'expired'  #: the session expired while a page was open
    LOGGED_OUT = 'logged_out'  #: the session was logged out (in this tab, another one, or everywhere)


@dataclass(frozen=True, slots=True)
class Session:
    """A verified admin session."""

    id: str
    issued_at: float
    expires_at: float
    epoch: int = 0


def credential_binding(settings: Settings) -> str:
    """A fingerprint of the password hash and TOTP secret: sessions signed under other credentials are invalid."""
    material = '\0'.join(
        s.get_secret_value() if s is not None else '' for s in (settings.password_hash, settings.totp_secret)
    )
    return hashlib.sha256(material.encode()).hexdigest()[:32] if material.strip('\0') else ''


class SessionSigner:
    """Issue and verify signed session tokens; the newest key signs, every configured key verifies.

    `bind` is mixed into the signature (see `credential_binding`); the epoch and the revoked ids are the
    server-side state (`snapshot` / `restore` persist them).
    """

    def __init__(
        self,
        keys: Sequence[str],
        duration: float,
        clock: Clock = time.time,
        *,
        bind: str = '',
        max_revoked: int = MAX_REVOKED,
    ) -> None:
        self._keys = [k for k in keys if k]
        self.duration = duration
        self._clock = clock
        salt = f'{_SALT}:{bind}' if bind else _SALT
        # itsdangerous signs with the LAST key and tries all of them; our list is newest first
        self._serializer = URLSafeSerializer(list(reversed(self._keys)), salt=salt) if self._keys else None
        self._revoked: dict[str, float] = {}
        self._max_revoked = max_revoked
        self.epoch = 0

    def issue(self) -> tuple[Session, str]:
        """Start a new session; return it and its cookie value."""
        if self._serializer is None:
            raise RuntimeError('no session key configured (NIXFLEET_SESSION_SECRET)')
        now = self._clock()
        session = Session(id=secrets.token_urlsafe(18), issued_at=now, expires_at=now + self.duration, epoch=self.epoch)
        token = self._serializer.dumps(
            {'sid': session.id, 'iat': round(now, 3), 'exp': round(session.expires_at, 3), 'gen': self.epoch}
        )
        return session, token

    def of(self, conn: HTTPConnection) -> Session | None:
        """The valid admin session of a request or WebSocket, or None (no cookie, forged, expired, revoked)."""
        return self.verify(conn.cookies.get(COOKIE_NAME))

    def verify(self, token: str | None) -> Session | None:
        """Return the session a cookie value stands for, or None if it is forged, expired or revoked."""
        if not token or self._serializer is None or len(token) > MAX_TOKEN_LENGTH:
            return None
        try:
            data: Any = self._serializer.loads(token)
            session = Session(
                id=str(data['sid']),
                issued_at=float(data['iat']),
                expires_at=float(data['exp']),
                epoch=int(data.get('gen', 0)),
            )
        except (BadSignature, KeyError, TypeError, ValueError, AttributeError, OverflowError):
            return None
        return session if self.valid(session) else None

    def expires_at(self, session: Session) -> float:
        """When `session` expires (a shortened NIXFLEET_SESSION_DURATION also applies to sessions issued before)."""
        return min(session.expires_at, session.issued_at + self.duration)

    def valid(self, session: Session) -> bool:
        """Whether a session (verified earlier) is still valid now: not expired, not revoked, of the current epoch."""
        now = self._clock()
        if now >= self.expires_at(session) or session.issued_at > now + 60:
            return False
        return session.epoch == self.epoch and session.id not in self._revoked

    def revoke(self, session: Session) -> None:
        """End a session before its expiry (logout); remembered only until it would have expired."""
        now = self._clock()
        self._revoked = {sid: exp for sid, exp in self._revoked.items() if exp > now}
        if len(self._revoked) >= self._max_revoked:
            self.revoke_all()  # bounded memory: never forget a logout, end every session instead
            return
        self._revoked[session.id] = session.expires_at

    def revoke_all(self) -> int:
        """End every session issued so far (logout everywhere); return the new epoch."""
        self.epoch += 1
        self._revoked.clear()
        return self.epoch

    def snapshot(self) -> tuple[int, dict[str, float]]:
        """The server-side state to persist: the epoch and the revoked session ids (with their expiry)."""
        now = self._clock()
        return self.epoch, {sid: exp for sid, exp in self._revoked.items() if exp > now}

    def restore(self, epoch: int, revoked: Mapping[str, float]) -> None:
        """Load persisted state (at startup)."""
        now = self._clock()
        self.epoch = epoch
        self._revoked = {sid: exp for sid, exp in revoked.items() if exp > now}


def is_https(conn: HTTPConnection) -> bool:
    """Whether the browser reached us over HTTPS (directly, or as a trusted proxy says)."""
    return request_facts(conn).https


def safe_next(target: str | None) -> str:
    """A local path to return to after login; anything else (other hosts, schemes) becomes `/`."""
    if not target or not target.startswith('/') or target.startswith('//') or '\\' in target:
        return '/'
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return '/'  # control characters: browsers strip some of them, turning `/\t/evil` into `//evil`
    return target


def login_redirect(error: str | None = None, next_path: str | None = None) -> str:
    """URL of the login page with an optional error code and return path."""
    query = {k: v for k, v in (('error', error), ('next', next_path)) if v and v != '/'}
    return LOGIN_PATH + (f'?{urlencode(query)}' if query else '')
