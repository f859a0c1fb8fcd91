"""The output panel's model: line kinds, status colours, bounded tab buffers and the restore merge."""

from __future__ import annotations

from nixfleet.models import CommandStatus
from nixfleet.ops.logs import format_line, parse_log
from nixfleet.viewmodels.output_buffer import (
    COMMANDS_CAP,
    TabBuffer,
    event_line,
    merge_restored,
    output_line,
    status_tone,
)


def entry(line: str, stream: str = 'stdout', ts: str = '2026-11-25T10:00:00.000Z') -> dict[str, str]:
    return {'ts': ts, 'stream': stream, 'line': line}


def test_every_command_status_has_a_colour_family() -> None:
    tones = {s: status_tone(s.value) for s in CommandStatus}
    assert tones[CommandStatus.EXECUTING] == tones[CommandStatus.AWAITING_RECONNECT] == 'running'
    assert tones[CommandStatus.RUNNING_WARNING] == tones[CommandStatus.TIMEOUT_PENDING] == 'warn'
    assert tones[CommandStatus.SUCCESS] == 'ok'
    assert tones[CommandStatus.PARTIAL] == tones[CommandStatus.STALE_BINARY] == 'partial'
    assert tones[CommandStatus.BLOCKED] == tones[CommandStatus.ERROR] == tones[CommandStatus.ORPHANED] == 'fail'
    assert tones[CommandStatus.SKIPPED] == tones[CommandStatus.CANCELLED] == 'muted'
    assert status_tone(None) == status_tone('NOT_A_STATUS') == 'none'


def test_log_file_lines_and_live_lines_read_the_same() -> None:
    text = (
        '# Command: pull (c1)\n'
        + format_line(entry('fetching'))
        + format_line(entry('fatal: no remote', 'stderr'))
        + '# Finished: 2026-11-25T10:00:01.000Z ERROR exit 1 — git failed\n'
    )
    kinds = [output_line(e)['k'] for e in parse_log(text)]
    assert kinds == ['start', 'out', 'err', 'fail']
    assert output_line(entry('Finished: 2026-11-25T10:00:01.000Z SUCCESS exit 0', 'header'))['k'] == 'ok'
    assert output_line(entry('Finished: 2026-11-25T10:00:01.000Z PARTIAL exit 0', 'meta'))['k'] == 'partial'


def test_event_line_names_the_host_by_its_hostname_and_colour() -> None:
    hosts = {'h1': {'hostname': 'web-01', 'theme_color': '#9ece6a'}}
    line = event_line({'timestamp': 'T', 'level': 'warn', 'message': 'web-01 disconnected', 'host_id': 'h1'}, hosts)
    assert line == {'t': 'T', 'k': 'ev-warn', 'x': 'web-01 disconnected', 'h': 'web-01', 'c': '#9ece6a', 'a': ''}


def test_merge_keeps_each_line_once() -> None:
    lines = [entry(f'line {i}') for i in range(6)]
    # the file was read after lines 2..3 were received live, and line 4 arrived after the read
    assert merge_restored(lines[:4], lines[2:5]) == lines[:5]
    # nothing live: the file alone; live lines the file has not reached: both
    assert merge_restored(lines[:3], []) == lines[:3]
    assert merge_restored(lines[:2], lines[2:4]) == lines[:4]
    # every live line is already in the file
    assert merge_restored(lines, lines[3:]) == lines
    # the header travels as `header` live and as `meta` in the file
    assert merge_restored([entry('Command: pull', 'meta')], [entry('Command: pull', 'header'), lines[0]]) == [
        entry('Command: pull', 'meta'),
        lines[0],
    ]


def test_repeated_lines_merge_by_the_longest_overlap() -> None:
    a, b = entry('tick'), entry('tock')
    assert merge_restored([a, b, a], [b, a, b]) == [a, b, a, b]
    assert merge_restored([a, a], [a, a, a]) == [a, a, a]


def test_tab_buffer_is_bounded_and_counts_what_fell_off() -> None:
    tab = TabBuffer(cap=5)
    tab.add([{'t': None, 'k': 'out', 'x': str(i)} for i in range(3)])
    assert tab.take_outgoing() == ([{'t': None, 'k': 'out', 'x': str(i)} for i in range(3)], 0)
    tab.add([{'t': None, 'k': 'out', 'x': str(i)} for i in range(3, 12)])
    assert [line['x'] for line in tab.lines] == ['7', '8', '9', '10', '11']
    assert tab.earlier == 7
    out, dropped = tab.take_outgoing()
    assert [line['x'] for line in out] == ['7', '8', '9', '10', '11'] and dropped == 4
    assert tab.text() == '7\n8\n9\n10\n11'
    assert tab.clear() == 5 and tab.earlier == 0 and not tab.lines


def test_reset_keeps_the_newest_lines() -> None:
    tab = TabBuffer(cap=3)
    tab.reset([{'t': None, 'k': 'out', 'x': str(i)} for i in range(5)], earlier=10)
    assert [line['x'] for line in tab.lines] == ['2', '3', '4']
    assert tab.payload() == {'lines': list(tab.lines), 'earlier': 12, 'loading': False, 'cap': 3}


def test_a_host_tab_remembers_only_its_newest_commands() -> None:
    tab = TabBuffer()
    for i in range(COMMANDS_CAP * 10):  # a tab left open while thousands of commands ran on its host
        tab.note(f'c{i}', 'test')
    tab.note('c5', 'pull')  # seen again: it becomes the newest

    assert len(tab.commands) == COMMANDS_CAP
    assert list(tab.commands)[-2:] == [f'c{COMMANDS_CAP * 10 - 1}', 'c5'] and tab.commands['c5'] == 'pull'
    assert 'c6' not in tab.commands
