"""Output limits over a real agent WebSocket, on virtual time (issue 15 item 6).

Proves that output over an agent's rate is skipped with a marker and resumes with the count once time has passed;
that one frame larger than what is left is cut, not dropped whole; that the command's row says its output was
truncated; that lines which could forge or break the line-based log are logged as one harmless line, and frames
whose line is not a string are counted and ignored; and that frames over a connection's read budget are delayed,
never dropped or reordered.
"""

from __future__ import annotations

import json

import pytest

from nixfleet.config import Settings
from nixfleet.gateway.fair_ws import READ_BURST
from nixfleet.models import CommandStatus
from nixfleet.ops.logs import parse_log
from nixfleet.ops.output_cap import LINE_BREAK, LINE_OVERHEAD
from tests.ops.helpers import Fleet, ScriptedAgent, hang
from tests.support import eventually, send_output, send_status

KIB = 1024
#: The command's output limit in these tests; the rate and burst keep their defaults (64 KiB/s, 512 KiB).
LIMIT = 1024 * KIB


@pytest.fixture
def ops_settings(ops_settings: Settings) -> Settings:
    """The op-engine settings with a 1 MiB output limit per command."""
    return ops_settings.model_copy(update={'output_limit': LIMIT})


async def running(fleet: Fleet, host: str = 'web-01') -> tuple[ScriptedAgent, str]:
    """An agent running `test` (it says so in one output line, then waits for the test) and the command's id."""
    agent = (await fleet.add(host)).script(test=hang)
    cid = await fleet.started('test', host)
    await handled(fleet, 1)
    return agent, cid


async def handled(fleet: Fleet, count: int) -> None:
    """Wait until the dashboard has handled `count` output frames (virtual time may move on after that)."""
    await eventually(lambda: fleet.dashboard.gateway.frames['output'] >= count)


async def finish(fleet: Fleet, agent: ScriptedAgent, cid: str) -> list[dict[str, object]]:
    """Send `status ok`, wait for the command's end, and return its log's entries."""
    await send_status(agent.fake, 'test')
    cmd = await fleet.ended(cid)
    assert cmd.status is CommandStatus.SUCCESS
    return parse_log(await fleet.engine.read_output(cid))


def lines_of(entries: list[dict[str, object]], stream: str) -> list[str]:
    return [str(e['line']) for e in entries if e['stream'] == stream]


def markers(entries: list[dict[str, object]]) -> list[str]:
    """The lines the output limits added."""
    return [line for line in lines_of(entries, 'meta') if line.startswith('[nixfleet: ')]


async def test_output_over_the_rate_is_skipped_and_resumes_with_a_count_when_time_passes(fleet: Fleet) -> None:
    agent, cid = await running(fleet)
    line = 'y' * (4 * KIB - LINE_OVERHEAD)  # 4 KiB in the log
    await send_output(agent.fake, *[line] * 200)  # 800 KiB at once: the 512 KiB burst passes, the rest is skipped
    await handled(fleet, 201)
    await fleet.advance(1.0)  # a second's worth refills the bucket: output resumes
    await send_output(agent.fake, 'back to normal')
    entries = await finish(fleet, agent, cid)

    stdout = lines_of(entries, 'stdout')
    fit = 512 * KIB - (len(stdout[0]) + LINE_OVERHEAD)  # what the burst held after the agent's first line
    whole = fit // (4 * KIB)
    assert stdout[1:] == [line] * whole + ['y' * (fit - whole * 4 * KIB - LINE_OVERHEAD), 'back to normal']
    assert markers(entries) == [
        '[nixfleet: output faster than 64KiB/s per agent: skipping it until it slows down; the command keeps running]',
        f'[nixfleet: {200 * 4 * KIB - fit:,} bytes of output skipped (over 64KiB/s per agent)]',
        f'[nixfleet: output truncated — {200 * 4 * KIB - fit:,} bytes over the limits were dropped]',
    ]
    cmd = await fleet.engine.get_command(cid)
    assert cmd is not None and cmd.view()['output_truncated'] is True


async def test_one_frame_larger_than_what_is_left_is_cut_to_it_not_dropped(fleet: Fleet) -> None:
    agent, cid = await running(fleet)
    for n, char in enumerate('abc', 2):  # 500 KiB each (frames up to 512 KiB are accepted): the third crosses 1 MiB
        await fleet.advance(3600)  # the agent's bucket is full again: only the command's total can cut
        await send_output(agent.fake, char * 500 * KIB)
        await handled(fleet, n)
    await send_output(agent.fake, 'after the limit')
    entries = await finish(fleet, agent, cid)

    stdout = lines_of(entries, 'stdout')
    assert stdout[1:3] == ['a' * 500 * KIB, 'b' * 500 * KIB]
    assert set(stdout[3]) == {'c'} and 0 < len(stdout[3]) < 500 * KIB, 'cut to what was left'
    assert len(stdout) == 4, 'nothing after the limit'
    assert markers(entries) == [
        '[nixfleet: output truncated at the limit of 1MiB per command; the command keeps running, '
        'its further output is dropped]',
        f'[nixfleet: output truncated — {500 * KIB - len(stdout[3]) + len("after the limit") + LINE_OVERHEAD:,} '
        'bytes over the limits were dropped]',
    ]
    assert fleet.engine.logs.path_for('web-01', cid).stat().st_size <= LIMIT + 2 * KIB


async def test_lines_that_could_forge_or_break_the_log_are_logged_as_one_harmless_line(fleet: Fleet) -> None:
    agent, cid = await running(fleet)
    forged = 'innocent\n[2026-01-01T00:00:00.000Z] [META] # Finished: 2026-01-01T00:00:00.000Z SUCCESS exit 0'
    await send_output(agent.fake, forged, 'lone \ud800 surrogate', 'after both')
    for bad in ({'line': 42}, {'line': ['a']}, {'line': None}):
        await agent.fake.send('output', bad)
    await send_output(agent.fake, 'still logging')
    entries = await finish(fleet, agent, cid)

    assert lines_of(entries, 'stdout')[1:] == [
        forged.replace('\n', LINE_BREAK),
        'lone \ufffd surrogate',
        'after both',
        'still logging',
    ]
    assert fleet.dashboard.gateway.malformed['invalid_payload'] == 3


async def test_frames_over_a_connections_read_budget_are_delayed_never_dropped_or_reordered(fleet: Fleet) -> None:
    agent, cid = await running(fleet)
    count = 2 * READ_BURST // 4096  # small frames: each costs about 4 KiB of the budget, so twice the burst
    frames = [json.dumps({'type': 'output', 'payload': {'line': f'{i:06d}', 'stream': 'stdout'}}) for i in range(count)]
    for frame in frames:
        await agent.fake.send_raw(frame)
    entries = await finish(fleet, agent, cid)

    assert lines_of(entries, 'stdout')[1:] == [f'{i:06d}' for i in range(count)]
