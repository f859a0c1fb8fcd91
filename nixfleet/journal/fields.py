"""The one list of the fields that describe a command, in the order API, CLI and UI show them."""

from __future__ import annotations

#: The fields of a command as `nixfleet commands show` lists them and the History view reads them; each is a
#: column of the `commands` table and a key of the command's API view (`Command.view()`, `CommandOut`).
COMMAND_FIELDS = (
    'id',
    'host_id',
    'op',
    'status',
    'actor',
    'pipeline_id',
    'stage',
    'created_at',
    'started_at',
    'finished_at',
    'exit_code',
    'code',
    'error',
    'message',
    'error_line',
)
