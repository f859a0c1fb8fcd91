"""TOTP for login and for ops that need it (reboot): 30 s period, ±1 step, and a code works once."""

from __future__ import annotations

import hmac
from collections import deque
from collections.abc import Callable

import pyotp

from nixfleet.models import Blocked, ErrorCode
from nixfleet.timeutil import Clock

#: Wrong codes tolerated per `FAILURE_WINDOW` seconds before every code is refused until the window has passed.
MAX_FAILURES = 5
FAILURE_WINDOW = 60.0

#: The refusal of a right code whose time step was already used (login tells it apart from a wrong code).
ALREADY_USED = Blocked(ErrorCode.TOTP_INVALID, 'this TOTP code was already used; wait for the next one')

#: What a code is checked for (the audit hook gets it).
LOGIN = 'login'
OP = 'op'


class TotpGuard:
    """Verify TOTP codes with replay protection: a time step, once accepted, is never accepted again.

    The dashboard has one guard for everything (login and TOTP-gated ops), so a code used to log in cannot be
    replayed to reboot a host, nor the other way round; right after logging in, a reboot waits for the next code.
    After `MAX_FAILURES` wrong codes inside `FAILURE_WINDOW` every code is refused (`rate_limited`) until the window
    has passed: a stolen session must not be able to guess its way through the second factor.

    Decision: without `NIXFLEET_TOTP_SECRET` a TOTP-gated op cannot be authorised at all (`totp_required`, saying
    the secret is missing), as the Go dashboard did; reboot is then only possible on the host itself.
    """

    def __init__(
        self,
        secret: str | None,
        clock: Clock,
        *,
        max_failures: int = MAX_FAILURES,
        failure_window: float = FAILURE_WINDOW,
        on_used: Callable[[int], None] | None = None,
        on_refused: Callable[[Blocked, str], None] | None = None,
    ) -> None:
        self._totp = pyotp.TOTP(secret) if secret else None
        self._clock = clock
        self._last_step = -1
        self._failures: deque[float] = deque(maxlen=max(1, max_failures))
        self._failure_window = failure_window
        #: Called with the time step a code just used (to persist it: replays stay refused across restarts).
        self._on_used = on_used
        #: Called with every refusal and what the code was for (to audit it).
        self._on_refused = on_refused

    @property
    def configured(self) -> bool:
        """Whether a TOTP secret is set."""
        return self._totp is not None

    def restore(self, step: int) -> None:
        """Never accept codes of `step` or earlier (the last used step, loaded at startup)."""
        self._last_step = max(self._last_step, step)

    def check(self, code: str | None, *, purpose: str = OP, spend: bool = True) -> Blocked | None:
        """Accept a valid, unused code (and burn its time step unless `spend` is False); otherwise say why not.

        `spend=False` answers for a request that turned out to start nothing: the code is judged as always (a wrong
        one counts towards the lock) but stays good for the retry.
        """
        blocked = self._check((code or '').strip().replace(' ', ''), spend=spend)
        if blocked is not None and self._on_refused is not None:
            self._on_refused(blocked, purpose)
        return blocked

    def _check(self, code: str, *, spend: bool) -> Blocked | None:
        if self._totp is None:
            return Blocked(ErrorCode.TOTP_REQUIRED, 'this op needs TOTP, but NIXFLEET_TOTP_SECRET is not configured')
        if not code:
            return Blocked(ErrorCode.TOTP_REQUIRED, 'this op needs a TOTP code')
        now = self._clock()
        while self._failures and self._failures[0] <= now - self._failure_window:
            self._failures.popleft()
        if len(self._failures) == self._failures.maxlen:
            wait = max(1, round(self._failures[0] + self._failure_window - now))
            return Blocked(ErrorCode.RATE_LIMITED, f'too many wrong TOTP codes; try again in {wait} s')
        if code.isascii() and code.isdigit() and len(code) == self._totp.digits:
            interval = self._totp.interval
            for offset in (-1, 0, 1):
                moment = now + offset * interval
                if hmac.compare_digest(self._totp.at(moment), code):
                    step = int(moment // interval)
                    if step <= self._last_step:
                        return ALREADY_USED
                    if not spend:
                        return None
                    self._last_step = step
                    if self._on_used is not None:
                        self._on_used(step)
                    return None
        self._failures.append(now)
        return Blocked(ErrorCode.TOTP_INVALID, 'wrong TOTP code')
