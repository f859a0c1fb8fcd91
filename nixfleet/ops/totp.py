"""TOTP for ops that need it (reboot): 30 s period, ±1 step, and a code works once (SPEC §12)."""

from __future__ import annotations

import hmac

import pyotp

from nixfleet.models import ErrorCode
from nixfleet.ops.validation import Blocked
from nixfleet.timeutil import Clock


class TotpGuard:
    """Verify TOTP codes with replay protection: a time step, once accepted, is never accepted again.

    Decision: without `NIXFLEET_TOTP_SECRET` a TOTP-gated op cannot be authorised at all (`totp_required`, saying
    the secret is missing), as the Go dashboard did; reboot is then only possible on the host itself.
    """

    def __init__(self, secret: str | None, clock: Clock) -> None:
        self._totp = pyotp.TOTP(secret) if secret else None
        self._clock = clock
        self._last_step = -1

    @property
    def configured(self) -> bool:
        """Whether a TOTP secret is set."""
        return self._totp is not None

    def check(self, code: str | None) -> Blocked | None:
        """Accept a valid, unused code (and burn its time step); otherwise say why not."""
        if self._totp is None:
            return Blocked(ErrorCode.TOTP_REQUIRED, 'this op needs TOTP, but NIXFLEET_TOTP_SECRET is not configured')
        code = (code or '').strip()
        if not code:
            return Blocked(ErrorCode.TOTP_REQUIRED, 'this op needs a TOTP code')
        now = self._clock()
        interval = self._totp.interval
        for offset in (-1, 0, 1):
            moment = now + offset * interval
            if hmac.compare_digest(self._totp.at(moment), code):
                step = int(moment // interval)
                if step <= self._last_step:
                    return Blocked(ErrorCode.TOTP_INVALID, 'this TOTP code was already used; wait for the next one')
                self._last_step = step
                return None
        return Blocked(ErrorCode.TOTP_INVALID, 'wrong TOTP code')
