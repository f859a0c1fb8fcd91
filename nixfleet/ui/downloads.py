"""Downloads the browser fetches itself (with its session), so no log travels through the tab's socket."""

from __future__ import annotations

import re
from urllib.parse import quote

from nicegui import ui

#: Characters a download's file name keeps.
_UNSAFE_FILENAME = re.compile(r'[^A-Za-z0-9._-]+')


def command_log_url(command_id: str) -> str:
    """Where a command's whole log is served as text (a session cookie or API token is needed)."""
    return f'/api/commands/{quote(command_id)}/output'


def download_command_log(command_id: str, host: str | None, op: str | None) -> None:
    """Let the browser save a command's whole log as `<host>-<op>-<id>.log`."""
    name = _UNSAFE_FILENAME.sub('_', f'{host or "fleet"}-{op or "command"}-{command_id}')[:180]
    ui.download.from_url(command_log_url(command_id), f'{name}.log', 'text/plain')
