"""The live connections of each admin session, ended the moment the session ends (issue 15 item 5).

Every open dashboard tab and every `/api/sync` socket opened with a session cookie is attached here with a callback
that ends it (the tab leaves for the login page, the socket closes with `CLOSE_SESSION_ENDED`). A session ends by
logout (`end_invalid` right after the signer revoked it), by "log out everywhere" (the same, after the epoch moved)
and by expiry (`expire`, which the dashboard's tick calls every `tick_interval`: it does nothing before the earliest
expiry of an attached session, on the dashboard's clock). `alive` is the server-side re-check every UI action makes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import count

from reactivex.abc import DisposableBase
from reactivex.disposable import Disposable

from nixfleet.security.sessions import LoginError, Session, SessionSigner
from nixfleet.timeutil import Clock

log = logging.getLogger(__name__)

#: WebSocket close code of a sync socket whose session ended (4000-4999: private use; 4401 echoes HTTP 401).
CLOSE_SESSION_ENDED = 4401


class EndReason(StrEnum):
    """Why a session's connections were ended (the login page says it, the close frame carries it)."""

    LOGGED_OUT = 'session ended: logged out'
    EXPIRED = 'session ended: expired'

    @property
    def login_error(self) -> str:
        """The login page's code for it (`/login?error=…`)."""
        return LoginError.EXPIRED if self is EndReason.EXPIRED else LoginError.LOGGED_OUT


#: Ends one connection; called once, on the event loop.
Ender = Callable[[EndReason], None]


@dataclass(slots=True, kw_only=True)
class _Link:
    session: Session
    end: Ender
    label: str


@dataclass(slots=True, kw_only=True)
class SessionLinks:
    """The registry of live connections per session."""

    signer: SessionSigner
    clock: Clock
    _links: dict[int, _Link] = field(default_factory=dict)
    _ids: count[int] = field(default_factory=count)

    def alive(self, session: Session) -> bool:
        """Whether `session` is still valid now (not logged out, not expired, its epoch current)."""
        return self.signer.valid(session)

    def attach(self, session: Session, end: Ender, label: str) -> DisposableBase:
        """Keep `end` until disposed; call it when `session` ends (at once if it already has)."""
        if not self.alive(session):
            end(self._reason(session))
            return Disposable()
        key = next(self._ids)
        self._links[key] = _Link(session=session, end=end, label=label)

        def detach() -> None:
            self._links.pop(key, None)

        return Disposable(detach)

    @property
    def count(self) -> int:
        """Connections attached now."""
        return len(self._links)

    @property
    def next_expiry(self) -> float | None:
        """When the first attached session expires (on the dashboard's clock), or None without any."""
        return min((self.signer.expires_at(link.session) for link in self._links.values()), default=None)

    def expire(self) -> int:
        """End the connections of sessions that expired (a no-op before the earliest expiry); return how many."""
        due = self.next_expiry
        if due is None or self.clock() < due:
            return 0
        return self.end_invalid()

    def end_invalid(self) -> int:
        """End every connection whose session is no longer valid (call after a logout); return how many."""
        ended = [(key, link) for key, link in self._links.items() if not self.alive(link.session)]
        for key, link in ended:
            del self._links[key]
            reason = self._reason(link.session)
            log.info('ending %s: %s', link.label, reason.value)
            try:
                link.end(reason)
            except Exception:  # one broken connection must not keep the others of the session open
                log.exception('could not end %s', link.label)
        return len(ended)

    def expired(self, session: Session) -> bool:
        """Whether `session` has expired by now."""
        return self.clock() >= self.signer.expires_at(session)

    def _reason(self, session: Session) -> EndReason:
        return EndReason.EXPIRED if self.expired(session) else EndReason.LOGGED_OUT
