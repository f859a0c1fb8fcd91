"""What the host page shows, NiceGUI-free: the host id taken from the URL, its facts, its compartments with their
reasons, its last commands with their causes, and the generations its switch-like commands went to."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from nixfleet.causes import cause
from nixfleet.protocol import HOSTNAME_RE
from nixfleet.viewmodels.actions_model import op_label
from nixfleet.viewmodels.output_buffer import status_tone

#: Ops that change which system a host runs: their history is the host's generation history.
DEPLOY_OPS = ('switch', 'pull-switch', 'force-rebuild', 'rollback')
#: How much of an unknown id from the URL the "no such host" page repeats.
SHOWN_ID = 64
#: The five compartments, in the table's order, with their names.
COMPARTMENTS = (('agent', 'Agent'), ('git', 'Git'), ('lock', 'Lock'), ('system', 'System'), ('tests', 'Tests'))
_PLATFORMS = {'nixos': 'NixOS', 'macos': 'macOS'}
_LOCATIONS = {'home': 'Home', 'office': 'Office', 'cloud': 'Cloud'}
_DEVICES = {'server': 'Server', 'desktop': 'Desktop', 'laptop': 'Laptop', 'gaming': 'Gaming rig', 'vm': 'VM'}


def host_path(host_id: str) -> str:
    """The URL path of a host's page."""
    return f'/hosts/{quote(host_id, safe="")}'


def host_id_of(text: str | None) -> str | None:
    """The host id a URL names, or None when it cannot name a host (ids are hostnames: `protocol.HOSTNAME_RE`)."""
    return text if text and len(text) <= 63 and HOSTNAME_RE.match(text) else None


def shown_id(text: str | None) -> str:
    """An id from the URL as the "no such host" page repeats it: cut to `SHOWN_ID` characters, controls dropped
    (the page renders it as text, never as HTML)."""
    clean = ''.join(ch if ch.isprintable() else '�' for ch in (text or '')[: SHOWN_ID + 1])
    return clean if len(clean) <= SHOWN_ID else clean[: SHOWN_ID - 1] + '…'


@dataclass(frozen=True, slots=True)
class Fact:
    """One line of the facts list: a label, a value ('' when unknown) and whether the value is code-like."""

    label: str
    value: str
    code: bool = False


def facts(view: Mapping[str, Any]) -> list[Fact]:
    """The host's facts in reading order (last seen and uptime are live, the page adds them)."""
    platform = str(view.get('host_type') or '')
    agent = str(view.get('agent_version') or '')
    impl = {'python': 'Python', 'go': 'Go'}.get(str(view.get('agent_impl') or 'go'), str(view.get('agent_impl')))
    return [
        Fact('Platform', _PLATFORMS.get(platform, platform)),
        Fact('OS', str(view.get('os_version') or '')),
        Fact('Agent', f'{agent} ({impl})' if agent else ''),
        Fact('Location', _LOCATIONS.get(str(view.get('location') or ''), str(view.get('location') or ''))),
        Fact('Type', _DEVICES.get(str(view.get('device_type') or ''), str(view.get('device_type') or ''))),
        Fact('Generation', str(view.get('generation') or ''), code=True),
        Fact('Lock hash', str(view.get('lock_hash') or ''), code=True),
        Fact('nixpkgs', str(view.get('nixpkgs_version') or ''), code=True),
        Fact('Heartbeat', f'every {view["heartbeat_interval"]} s' if view.get('heartbeat_interval') else ''),
    ]


def presence(view: Mapping[str, Any]) -> tuple[str, str]:
    """The host's status as (key, words): online, busy, stale or offline."""
    connection = str(view.get('connection') or 'offline')
    if connection == 'online' and view.get('busy'):
        return 'busy', f'Online, running {op_label(view.get("pending_command")) or "a command"}'
    return connection, {'online': 'Online', 'stale': 'Stale: no heartbeat', 'offline': 'Offline'}.get(
        connection, connection
    )


@dataclass(frozen=True, slots=True)
class CompartmentLine:
    """One compartment: its name, status and why."""

    key: str
    label: str
    status: str
    message: str
    hint: str


def compartment_lines(view: Mapping[str, Any]) -> list[CompartmentLine]:
    """The five compartments with status, reason and hint ('unknown' / "Not reported" when missing)."""
    comps = view.get('compartments') or {}
    lines = []
    for key, label in COMPARTMENTS:
        found = comps.get(key)
        comp: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        lines.append(
            CompartmentLine(
                key=key,
                label=label,
                status=str(comp.get('status') or 'unknown'),
                message=str(comp.get('message') or 'Not reported'),
                hint=str(comp.get('hint') or ''),
            )
        )
    return lines


@dataclass(frozen=True, slots=True)
class CommandLine:
    """One of the host's last commands: what ran, how it ended and why, and whether it has output."""

    id: str
    op: str
    status: str
    tone: str
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    exit_code: int | None
    cause: str
    error_line: str
    actor: str
    has_output: bool


def command_lines(rows: Iterable[Mapping[str, Any]], live: Mapping[str, Mapping[str, Any]]) -> list[CommandLine]:
    """Journal rows as lines, each with the newer state of the live command of the same id when there is one."""
    lines = []
    for row in rows:
        record = {**row, **live.get(str(row.get('id')), {})}
        status = str(record.get('status') or '')
        lines.append(
            CommandLine(
                id=str(record.get('id')),
                op=op_label(str(record.get('op') or '')),
                status=status,
                tone=status_tone(status),
                created_at=record.get('created_at'),
                started_at=record.get('started_at'),
                finished_at=record.get('finished_at'),
                exit_code=record.get('exit_code'),
                cause=cause(record),
                error_line=str(record.get('error_line') or ''),
                actor=str(record.get('actor') or ''),
                has_output=bool(row.get('output_file')),
            )
        )
    return lines


def host_commands(state_commands: Mapping[str, Mapping[str, Any]], host: str) -> dict[str, Mapping[str, Any]]:
    """The live state's commands of `host` by id (active ones and those that ended lately)."""
    return {cid: c for cid, c in state_commands.items() if c.get('host_id') == host}


@dataclass(frozen=True, slots=True)
class Deploy:
    """One switch-like command: when, what, how it ended, and the generation it left the host at (and came from)."""

    id: str
    op: str
    status: str
    tone: str
    at: str | None
    generation: str
    previous: str


def _state(row: Mapping[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(str(row.get('state_json') or '{}'))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def deploys(rows: Iterable[Mapping[str, Any]], live: Mapping[str, Mapping[str, Any]] | None = None) -> list[Deploy]:
    """Journal rows of switch-like commands as generation history, newest first as given (with the status of the live
    command of the same id when there is one).

    The generation a command went to is the host's when it ended (recorded since this page exists); for older rows of
    `switch` and `force-rebuild`, which deploy the generation the host was at, the one at dispatch stands in.
    """
    history = []
    for row in rows:
        state = _state(row)
        found = state.get('before')
        before: dict[str, Any] = found if isinstance(found, dict) else {}
        previous = str(before.get('generation') or '')
        after = str(state.get('generation') or '')
        if not after and row.get('op') in ('switch', 'force-rebuild') and row.get('finished_at'):
            after = previous
        status = str((live or {}).get(str(row.get('id')), row).get('status') or '')
        history.append(
            Deploy(
                id=str(row.get('id')),
                op=op_label(str(row.get('op') or '')),
                status=status,
                tone=status_tone(status),
                at=row.get('finished_at') or row.get('created_at'),
                generation=after,
                previous=previous,
            )
        )
    return history
