"""Restoring a host tab of the output panel from the log files of the host's newest commands, NiceGUI-free.

The lines that arrived live while the files were read are held in the tab (`TabBuffer.held`) and merged here, so
nothing is lost or doubled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, Protocol

from nixfleet.journal import Journal
from nixfleet.ops.logs import parse_log
from nixfleet.viewmodels.output_buffer import TAB_CAP, Line, TabBuffer, merge_restored, output_line

log = logging.getLogger(__name__)

#: Commands a host tab restores from their log files.
RESTORE_COMMANDS = 3
#: Log files larger than this are parsed off the loop.
_PARSE_INLINE = 65536


class OutputReader(Protocol):
    """Reads a command's whole log (the op engine)."""

    def read_output(self, command_id: str) -> Awaitable[str]: ...


async def read_host_logs(
    ops: OutputReader, journal: Journal, host: str, tab: TabBuffer
) -> tuple[dict[str, list[dict[str, Any]]], bool]:
    """The parsed log files of the host's newest commands by command id (noted in `tab`), and whether reading failed."""
    files: dict[str, list[dict[str, Any]]] = {}
    try:
        commands = await journal.host_commands(host, RESTORE_COMMANDS)
        for command in commands:
            cid = str(command['id'])
            try:
                text = await ops.read_output(cid)
            except Exception as exc:  # e.g. the command was pruned meanwhile
                log.info('no log for %s: %s', cid, exc)
                text = ''
            files[cid] = await asyncio.to_thread(parse_log, text) if len(text) > _PARSE_INLINE else parse_log(text)
            tab.note(cid, str(command.get('op')))
            tab.latest = cid
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception('restoring the output of %s failed', host)
        return files, True
    return files, False


def restored_lines(files: dict[str, list[dict[str, Any]]], tab: TabBuffer, *, failed: bool) -> tuple[list[Line], int]:
    """The tab's lines after a restore (the files merged with the held live lines) and how many earlier ones were cut.

    Call it without awaiting between it and the tab's reset: every later line then arrives as a live line.
    """
    lines: list[Line] = []
    earlier = 0
    for cid, entries in files.items():  # merged only now: a line written while a file was read arrives later
        merged = merge_restored(entries, tab.held.pop(cid, []))
        lines.extend(output_line(e) for e in merged[-TAB_CAP:])
        earlier += max(0, len(merged) - TAB_CAP)
    for cid, held in tab.held.items():  # commands that started after the query
        lines.extend(output_line(e) for e in held)
        if cid not in tab.commands:
            tab.note(cid, '')
    if failed:
        lines.append({'t': None, 'k': 'fail', 'x': 'Could not read the log files; see the dashboard log.'})
    return lines, earlier
