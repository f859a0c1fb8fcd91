"""Security state that outlives a restart, kept in the `settings` table, and the audit of refused TOTP codes.

- `security.session_epoch` and `security.revoked_sessions`: logging out (one session, or every session) holds
  across restarts; a restart never brings a logged-out cookie back to life.
- `security.totp_last_step`: a TOTP code used just before a restart stays used after it.

A logout also ends the session's open tabs and sync sockets at once (`links`, nixfleet.security.links).

The TOTP guard is shared by login and TOTP-gated ops (reboot); every refusal of a code for an op is journaled as an
audit event `totp_refused` with the actor and client of the request (login refusals are journaled by the login
route as `login_failed`). At most `AUDITED_REFUSALS` such events are written per minute, so a client hammering the
guard cannot flood the event log.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from nixfleet.events import EventLog
from nixfleet.models import Blocked, EventCategory, EventLevel
from nixfleet.security.context import current_request
from nixfleet.security.links import SessionLinks
from nixfleet.security.ratelimit import AttemptLimiter
from nixfleet.security.sessions import Session, SessionSigner
from nixfleet.security.totp import LOGIN, TotpGuard
from nixfleet.store import Store
from nixfleet.store.kv_rows import read_settings, write_settings
from nixfleet.timeutil import Clock

log = logging.getLogger(__name__)

SESSION_EPOCH = 'security.session_epoch'
REVOKED_SESSIONS = 'security.revoked_sessions'
TOTP_LAST_STEP = 'security.totp_last_step'
#: `totp_refused` events written per minute at most.
AUDITED_REFUSALS = 10


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _revoked(text: str | None) -> dict[str, float]:
    try:
        data = json.loads(text) if text else {}
        return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (ValueError, TypeError):
        return {}


class SecurityState:
    """Persist the session epoch, logouts and the last TOTP step; audit refused TOTP codes."""

    def __init__(
        self, store: Store, sessions: SessionSigner, events: EventLog, clock: Clock, *, totp_secret: str | None
    ) -> None:
        self._store = store
        self._sessions = sessions
        #: The one TOTP guard: login and TOTP-gated ops share it, so a code works once for either.
        self.totp = TotpGuard(totp_secret, clock, on_used=self._totp_used, on_refused=self._totp_refused)
        self._events = events
        self._audits = AttemptLimiter(AUDITED_REFUSALS, 60.0, clock)
        #: The open tabs and sync sockets of each session, ended with it.
        self.links = SessionLinks(signer=sessions, clock=clock)
        self._tasks: set[asyncio.Task[Any]] = set()

    def load(self) -> None:
        """Load the persisted state (startup, with the store open)."""
        values = self._store.read_sync(lambda db: read_settings(db, (SESSION_EPOCH, REVOKED_SESSIONS, TOTP_LAST_STEP)))
        self._sessions.restore(_int(values.get(SESSION_EPOCH), 0), _revoked(values.get(REVOKED_SESSIONS)))
        self.totp.restore(_int(values.get(TOTP_LAST_STEP), -1))

    async def logout(self, session: Session) -> None:
        """End one session and its open tabs and sync sockets, here and after restarts."""
        self._sessions.revoke(session)
        self.links.end_invalid()
        await self._save_sessions()

    async def logout_everywhere(self) -> int:
        """End every session issued so far and their tabs and sync sockets, here and after restarts; return the new
        epoch."""
        epoch = self._sessions.revoke_all()
        self.links.end_invalid()
        await self._save_sessions()
        log.warning('every session was logged out (session epoch %d)', epoch)
        return epoch

    async def _save_sessions(self) -> None:
        epoch, revoked = self._sessions.snapshot()
        values = {SESSION_EPOCH: str(epoch), REVOKED_SESSIONS: json.dumps(revoked)}
        await self._store.write(lambda db: write_settings(db, values))

    def _totp_used(self, step: int) -> None:
        if self._store.is_open:
            self._spawn(lambda: self._store.write(lambda db: write_settings(db, {TOTP_LAST_STEP: str(step)})))

    def _totp_refused(self, blocked: Blocked, purpose: str) -> None:
        if purpose == LOGIN or not self._store.is_open:
            return  # the login route journals its own refusals
        if self._audits.attempt('totp') is not None:
            log.debug('TOTP refusal not journaled (more than %d a minute): %s', AUDITED_REFUSALS, blocked.code)
            return
        context = current_request.get()
        self._spawn(
            lambda: self._events.record(
                'totp_refused',
                f'TOTP code refused for an op that needs it (reboot): {blocked.message}',
                category=EventCategory.AUDIT,
                level=EventLevel.WARN,
                actor=(context.actor if context else None) or 'user',
                details={'code': blocked.code.value, 'ip': context.client if context else None},
            )
        )

    def _spawn(self, work: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # checked outside the event loop (a synchronous caller): nothing to schedule on
            log.warning('security state change not persisted: no running event loop')
            return
        task = loop.create_task(work())
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error('could not persist security state: %r', exc)

    async def drain(self) -> None:
        """Wait for pending writes (shutdown, before the store closes)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
