"""Limits on command output: bytes per second per agent, and bytes per command (issue 15 item 6).

An agent can send output far faster than anyone reads it (one sent 70 MB in 4.4 s). Every output line passes
`OutputCap.admit` before it is buffered, written or published: a token bucket per agent bounds the rate (with a
burst), and a total per command bounds the log. What is over a limit is dropped and the command keeps running; a
`meta` line in the log says so where output is first skipped or cut, one says how much was skipped when output
resumes, and `summary` gives the total at the command's end. A line is charged what it takes in the log file (its
UTF-8 text plus the timestamp prefix), so a flood of empty lines is bounded like one of long lines. A line larger
than what is left is cut to fit, never dropped whole without a trace.

The per-command tally lives on the command's `Tracking` (journaled with it), so a command re-adopted after a
dashboard restart keeps counting where it was. Time comes from the injected clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nixfleet.config import Settings, format_size
from nixfleet.ops.commands import Tracking
from nixfleet.timeutil import Clock, iso

#: What a log line costs besides its text: `[<UTC ISO time>] [ERR] ` and the newline.
LINE_OVERHEAD = len(f'[{iso(0)}] [ERR] \n')
#: A line break inside a line would forge lines of the line-based log file; it is shown as this symbol instead.
LINE_BREAK = '\u2424'
_GOES_ON = 'the command keeps running'
_SURROGATE = re.compile('[\ud800-\udfff]')


@dataclass(slots=True, kw_only=True, frozen=True)
class OutputLimits:
    """How much output one agent and one command may log."""

    #: Bytes per second an agent's output may sustain.
    rate: float
    #: Bytes an agent may send at once above the rate (the bucket's size).
    burst: float
    #: Bytes one command's log keeps at most.
    per_command: int

    @classmethod
    def of(cls, settings: Settings) -> OutputLimits:
        """The limits configured in `settings`."""
        return cls(rate=settings.output_rate, burst=settings.output_burst, per_command=settings.output_limit)

    @property
    def resume_level(self) -> float:
        """Bytes the bucket must hold again before skipped output resumes: a second's worth (at most the burst),
        so a steady flood makes at most one skip-and-resume pair of markers per second."""
        return min(self.rate, self.burst)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class OutputCap:
    """Decide which output lines (whole, cut or not at all) and which markers go to a command's log."""

    def __init__(self, limits: OutputLimits, clock: Clock) -> None:
        self.limits = limits
        self._clock = clock
        #: One bucket per agent that sent output for a command (bounded by the hosts commands were dispatched to).
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, agent: str, tally: Tracking, stream: str, line: str) -> list[tuple[str, str]]:
        """The `(stream, text)` lines to log for one output line of `agent`'s command whose tally is `tally`."""
        line = clean(line)
        cost = _size(line) + LINE_OVERHEAD
        if tally.output_full:
            tally.output_dropped += cost
            return []
        bucket = self._refilled(agent)
        out: list[tuple[str, str]] = []
        if tally.output_skipped and not self._resume(bucket, tally, out):
            tally.output_skipped += cost
            tally.output_dropped += cost
            return out
        room = self.limits.per_command - tally.output_kept
        total_bound = room <= bucket.tokens  # the command's total runs out before the agent's rate does
        allowed = room if total_bound else bucket.tokens
        whole = cost <= allowed
        head = line if whole else _cut(line, int(allowed) - LINE_OVERHEAD)
        logged = whole or bool(head)  # an empty line is logged when it fits; an empty cut is not
        kept = _size(head) + LINE_OVERHEAD if logged else 0
        if logged:
            bucket.tokens -= kept
            tally.output_kept += kept
            out.append((stream, head))
        if not whole:
            self._cut_off(tally, out, cost - kept, total_bound)
        return out

    def _resume(self, bucket: _Bucket, tally: Tracking, out: list[tuple[str, str]]) -> bool:
        """End a skipped span with its marker once the bucket holds a second's worth again; False while it does not."""
        if bucket.tokens < self.limits.resume_level:
            return False
        self._marker(tally, out, f'{tally.output_skipped:,} bytes of output skipped (over {self._rate})')
        tally.output_skipped = 0
        return True

    def _cut_off(self, tally: Tracking, out: list[tuple[str, str]], dropped: int, total_bound: bool) -> None:
        """Count what did not fit and mark where output stops: for good (the total), or until it slows (the rate)."""
        tally.output_dropped += dropped
        if total_bound:
            tally.output_full = True
            self._marker(
                tally, out, f'output truncated at the limit of {self._total}; {_GOES_ON}, its further output is dropped'
            )
        else:
            tally.output_skipped = dropped
            self._marker(tally, out, f'output faster than {self._rate}: skipping it until it slows down; {_GOES_ON}')

    @property
    def _rate(self) -> str:
        return f'{format_size(int(self.limits.rate))}/s per agent'

    @property
    def _total(self) -> str:
        return f'{format_size(self.limits.per_command)} per command'

    def _refilled(self, agent: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(agent)
        if bucket is None:
            bucket = self._buckets[agent] = _Bucket(tokens=self.limits.burst, stamp=now)
            return bucket
        gained = max(0.0, now - bucket.stamp) * self.limits.rate
        bucket.tokens, bucket.stamp = min(self.limits.burst, bucket.tokens + gained), now
        return bucket

    @staticmethod
    def _marker(tally: Tracking, out: list[tuple[str, str]], text: str) -> None:
        line = marker(text)
        tally.output_kept += _size(line) + LINE_OVERHEAD
        out.append(('meta', line))


def marker(text: str) -> str:
    """A line the dashboard adds to a command's output, recognisable as its own."""
    return f'[nixfleet: {text}]'


def summary(tally: Tracking) -> str | None:
    """The closing marker of a command whose output was skipped or cut (None when nothing was dropped)."""
    if not tally.output_dropped:
        return None
    return marker(f'output truncated — {tally.output_dropped:,} bytes over the limits were dropped')


def clean(line: str) -> str:
    """The line as the log file can hold it: line breaks shown as `LINE_BREAK`, lone surrogates (which JSON can carry
    but UTF-8 cannot) as U+FFFD."""
    if '\n' in line or '\r' in line:
        line = line.replace('\r\n', LINE_BREAK).replace('\n', LINE_BREAK).replace('\r', LINE_BREAK)
    if not line.isascii():
        try:
            line.encode('utf-8')
        except UnicodeEncodeError:
            line = _SURROGATE.sub('\ufffd', line)
    return line


def _size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode('utf-8'))


def _cut(text: str, size: int) -> str:
    """The longest head of `text` that takes at most `size` bytes in UTF-8 ('' when none does)."""
    if size <= 0:
        return ''
    if text.isascii():
        return text[:size]
    return text.encode('utf-8')[:size].decode('utf-8', 'ignore')
