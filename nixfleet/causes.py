"""Why a command or a pipeline cell ended as it did, in words: the refusal code, the message, the exit code and the
last error line of its output — one wording for toasts, the Pipelines grid, History and the CLI.

Works on plain mappings (a command view, an API record or a pipeline cell) with the keys `status`, `code`, `error`,
`message`, `exit_code` and `error_line`; any may be missing. Imports nothing of the server, so the CLI can use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

#: Agent messages that say nothing the status and exit code do not (the Go agent's only error text).
GENERIC = frozenset({'', 'command failed', 'error', 'failed', 'ok'})
#: The code of a stage whose goal already held (docs/architecture.md#pipelines): satisfied, not a failure.
ALREADY_CURRENT = 'already_current'
#: Longest cause text a pipeline cell keeps.
CELL_TEXT = 200
_ERROR_WORDS = re.compile(
    r'\b(error|fatal|fail(?:ed|ure|s)?|panic|denied|cannot|could not|unable|not found|exception|traceback)\b',
    re.IGNORECASE,
)
_ANSI = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]')
_QUOTED = re.compile(r'^(?:>\s*)+')  # nix quotes a builder's log lines with `> `


def is_already_current(record: Mapping[str, Any]) -> bool:
    """Whether the record is a stage skipped because its goal already held."""
    return record.get('status') == 'SKIPPED' and record.get('code') == ALREADY_CURRENT


def detail(record: Mapping[str, Any]) -> str:
    """The message and the last error line (a generic agent message is left out when a line says more)."""
    text = str(record.get('error') or record.get('message') or '').strip()
    line = str(record.get('error_line') or '').strip()
    if line and text.lower() in GENERIC:
        return line
    if line and line not in text:
        return f'{text}: {line}' if text else line
    return '' if text.lower() in ('', 'ok') else text


def cause(record: Mapping[str, Any]) -> str:
    """`code · exit N — message: last error line`, each part only when known ('' for a success)."""
    if record.get('status') in ('SUCCESS', None, ''):
        return ''
    text = detail(record)
    if is_already_current(record):  # satisfied, not failed: its message says what already held
        return text or 'already current'
    head = [str(record['code'])] if record.get('code') else []
    exit_code = record.get('exit_code')
    if exit_code not in (None, 0) and f'exit {exit_code}' not in text:
        head.append(f'exit {exit_code}')
    return ' — '.join(p for p in (' · '.join(head), text) if p)


def short_cause(record: Mapping[str, Any]) -> str:
    """A few words for a grid cell: the code in words, else `exit N`, else the start of the message."""
    if record.get('status') in ('SUCCESS', None, ''):
        return ''
    if record.get('code'):
        return str(record['code']).replace('_', ' ')
    if record.get('exit_code') not in (None, 0):
        return f'exit {record["exit_code"]}'
    text = detail(record)
    return text if len(text) <= 28 else text[:27] + '…'


def cell_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """A pipeline grid cell for a command: its status and cause (`message` bounded to CELL_TEXT characters)."""
    text = detail(record)
    return {
        'status': record.get('status'),
        'code': record.get('code'),
        'message': text if len(text) <= CELL_TEXT else text[: CELL_TEXT - 1] + '…',
        'exit_code': record.get('exit_code'),
    }


def as_cell(value: Any) -> dict[str, Any] | None:
    """A cell as a mapping: journaled runs before causes were kept hold the status string only."""
    if value is None or value == '':
        return None
    if isinstance(value, str):
        return {'status': value, 'code': None, 'message': '', 'exit_code': None}
    return dict(value) if isinstance(value, Mapping) else None


def last_error_line(lines: Iterable[tuple[str, str]]) -> str | None:
    """The line of `(stream, text)` output that says what went wrong: the last one naming an error, else the last
    stderr line (ANSI colours removed, at most CELL_TEXT characters)."""
    named = stderr = None
    for stream, raw in lines:
        text = _QUOTED.sub('', _ANSI.sub('', raw).strip())
        if not text:
            continue
        if _ERROR_WORDS.search(text):
            named = text
        if stream == 'stderr':
            stderr = text
    found = named or stderr
    if found is None:
        return None
    return found if len(found) <= CELL_TEXT else found[: CELL_TEXT - 1] + '…'
