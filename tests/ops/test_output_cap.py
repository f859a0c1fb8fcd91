"""The output limits on virtual time (issue 15 item 6): what of each output line reaches a command's log.

A token bucket per agent bounds the rate, a total per command bounds the log; what is over is dropped (the command
keeps running) and marked: where output is first skipped or cut, how much was skipped when it resumes, and the total
at the end. Lines are charged as they take up the log file, so neither long lines nor empty ones escape the bound.
"""

from __future__ import annotations

import pytest

from nixfleet.config import Settings, format_size, parse_size
from nixfleet.ops.commands import Tracking
from nixfleet.ops.output_cap import LINE_BREAK, LINE_OVERHEAD, OutputCap, OutputLimits, summary
from tests.support import ManualClock

KIB = 1024
LIMITS = OutputLimits(rate=64 * KIB, burst=256 * KIB, per_command=1024 * KIB)


def cap_on(clock: ManualClock, limits: OutputLimits = LIMITS) -> OutputCap:
    return OutputCap(limits, clock)


def feed(cap: OutputCap, tally: Tracking, lines: list[str], agent: str = 'web-01') -> list[tuple[str, str]]:
    """Every (stream, text) the cap lets through for `lines`, in order."""
    return [out for line in lines for out in cap.admit(agent, tally, 'stdout', line)]


def logged(out: list[tuple[str, str]]) -> int:
    """Bytes those lines take in the log file."""
    return sum(len(text.encode()) + LINE_OVERHEAD for _, text in out)


def markers(out: list[tuple[str, str]]) -> list[str]:
    return [text for stream, text in out if stream == 'meta']


def kib_lines(count: int, size: int = KIB - LINE_OVERHEAD) -> list[str]:
    """`count` lines costing exactly 1 KiB each in the log."""
    return [f'{i:08d}'.ljust(size, 'x') for i in range(count)]


def test_output_within_the_burst_passes_unchanged() -> None:
    tally = Tracking()
    lines = kib_lines(256)
    out = feed(cap_on(ManualClock()), tally, lines)
    assert out == [('stdout', line) for line in lines]
    assert tally.output_dropped == 0 and summary(tally) is None


def test_output_over_the_rate_is_skipped_with_a_marker_and_resumes_with_the_count() -> None:
    clock, tally = ManualClock(), Tracking()
    cap = cap_on(clock)
    first = feed(cap, tally, kib_lines(300))  # 256 KiB burst, then 44 lines over it
    assert [text for _, text in first[:256]] == kib_lines(256)
    assert len(first) == 257 and 'skipping it until it slows down; the command keeps running' in first[-1][1]
    assert first[-1][0] == 'meta' and '64KiB/s per agent' in first[-1][1]
    clock.advance(0.5)  # half a second refills 32 KiB: less than the second's worth that output resumes at
    assert feed(cap, tally, kib_lines(10)) == []
    clock.advance(0.5)
    resumed = feed(cap, tally, ['back'])
    assert resumed[0] == ('meta', f'[nixfleet: {54 * KIB:,} bytes of output skipped (over 64KiB/s per agent)]')
    assert resumed[1] == ('stdout', 'back')
    assert tally.output_dropped == 54 * KIB and tally.output_skipped == 0
    assert summary(tally) == f'[nixfleet: output truncated — {54 * KIB:,} bytes over the limits were dropped]'


def test_a_steady_flood_logs_at_the_rate_with_one_marker_pair_per_second_at_most() -> None:
    clock, tally = ManualClock(), Tracking()
    cap = cap_on(clock)
    out: list[tuple[str, str]] = []
    for _ in range(100):  # 10 s of 64 KiB every 0.1 s: ten times the rate
        out += feed(cap, tally, kib_lines(640 // 10))
        clock.advance(0.1)
    kept = [o for o in out if o[0] == 'stdout']
    assert logged(kept) <= LIMITS.burst + 10 * LIMITS.rate
    assert len(markers(out)) <= 2 * 10 + 1


def test_the_total_per_command_cuts_the_line_that_crosses_it_and_drops_the_rest() -> None:
    clock, tally = ManualClock(), Tracking()
    limits = OutputLimits(rate=1024 * KIB, burst=1024 * KIB, per_command=100 * KIB)
    cap = cap_on(clock, limits)
    out = feed(cap, tally, [*kib_lines(99), 'y' * 5000, 'after'])
    assert out[:99] == [('stdout', line) for line in kib_lines(99)]
    assert out[99] == ('stdout', 'y' * (KIB - LINE_OVERHEAD))  # cut to what was left, not dropped whole
    assert out[100] == (
        'meta',
        '[nixfleet: output truncated at the limit of 100KiB per command; the command keeps running, '
        'its further output is dropped]',
    )
    assert len(out) == 101 and logged(out[:100]) == 100 * KIB
    clock.advance(3600)  # the total does not refill
    assert feed(cap, tally, ['later']) == []
    assert tally.output_full and tally.output_dropped == (5000 - KIB + LINE_OVERHEAD) + 2 * LINE_OVERHEAD + len(
        'afterlater'
    )


def test_one_line_larger_than_the_burst_is_cut_to_it_with_a_marker() -> None:
    tally = Tracking()
    out = feed(cap_on(ManualClock()), tally, ['z' * 400 * KIB])
    assert out[0] == ('stdout', 'z' * (256 * KIB - LINE_OVERHEAD))
    assert len(out) == 2 and 'skipping it' in out[1][1]
    assert tally.output_dropped == 144 * KIB + LINE_OVERHEAD  # the text not logged


def test_many_empty_lines_are_bounded_like_long_ones() -> None:
    tally = Tracking()
    out = feed(cap_on(ManualClock()), tally, [''] * 100_000)
    assert logged(out) <= LIMITS.burst + 2 * KIB
    assert len(out) == LIMITS.burst // LINE_OVERHEAD + 1


def test_the_bucket_is_per_agent_and_the_total_per_command() -> None:
    clock = ManualClock()
    cap = cap_on(clock)
    web, db = Tracking(), Tracking()
    feed(cap, web, kib_lines(300), agent='web-01')
    assert feed(cap, db, ['fine'], agent='db-01') == [('stdout', 'fine')]
    next_command = Tracking()  # the same agent's next command: its own total, but the agent's (empty) bucket
    [(stream, text)] = feed(cap, next_command, ['x'], agent='web-01')
    assert stream == 'meta' and 'skipping it' in text and next_command.output_skipped > 0


def test_non_ascii_is_cut_on_a_character_boundary() -> None:
    tally = Tracking()
    limits = OutputLimits(rate=64 * KIB, burst=64 * KIB, per_command=64 * KIB)
    out = feed(cap_on(ManualClock(), limits), tally, ['ä' * 40_000])  # 80,000 bytes of UTF-8
    head = out[0][1]
    assert set(head) == {'ä'} and len(head.encode()) + LINE_OVERHEAD in (64 * KIB, 64 * KIB - 1)


@pytest.mark.parametrize(
    ('line', 'logged_as'),
    [
        ('one\ntwo', f'one{LINE_BREAK}two'),
        ('a\r\nb\rc', f'a{LINE_BREAK}b{LINE_BREAK}c'),
        (
            '[2026-01-01T00:00:00.000Z] forged\n# Finished: x SUCCESS',
            f'[2026-01-01T00:00:00.000Z] forged{LINE_BREAK}# Finished: x SUCCESS',
        ),
        ('lone \ud800 surrogate', 'lone \ufffd surrogate'),
    ],
)
def test_a_line_is_logged_as_one_line_the_log_file_can_hold(line: str, logged_as: str) -> None:
    [(_, text)] = feed(cap_on(ManualClock()), Tracking(), [line])
    assert text == logged_as
    text.encode('utf-8')  # writable to the log file


def test_sizes_read_and_print_in_binary_units() -> None:
    assert [parse_size(v) for v in ('512', '512B', '64KiB', '16MiB', '1.5GiB', 2048)] == [
        512,
        512,
        65536,
        16 * 1024 * 1024,
        3 * 1024**3 // 2,
        2048,
    ]
    assert [format_size(v) for v in (65536, 16 * 1024 * 1024, 1000, 0)] == ['64KiB', '16MiB', '1000B', '0B']
    for bad in ('64 kb', 'lots', '-1KiB', '1KB'):
        with pytest.raises(ValueError, match='not a size'):
            parse_size(bad)


def test_the_limits_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('NIXFLEET_OUTPUT_RATE', '128KiB')
    monkeypatch.setenv('NIXFLEET_OUTPUT_BURST', '1MiB')
    monkeypatch.setenv('NIXFLEET_OUTPUT_LIMIT', '32MiB')
    limits = OutputLimits.of(Settings())
    assert limits == OutputLimits(rate=128 * KIB, burst=1024 * KIB, per_command=32 * 1024 * KIB)
    defaults = OutputLimits.of(Settings(output_rate=64 * KIB, output_burst='512KiB'))
    assert (defaults.rate, defaults.burst) == (64 * KIB, 512 * KIB)
