"""Handlers of the API sub-commands: one call to the API each, printed as a table or as JSON."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from nixfleet.causes import cause
from nixfleet.client.api import ApiClient
from nixfleet.client.render import Style, age, duration, print_json, short_time, table
from nixfleet.client.runs import FLEET, pipeline_table, run_op, run_pipeline
from nixfleet.compartments.model import NAMES
from nixfleet.journal.fields import COMMAND_FIELDS

_SYMBOLS = {
    'ok': ('✓', 'ok'),
    'outdated': ('↑', '^'),
    'error': ('✗', 'x'),
    'working': ('…', '~'),
    'unknown': ('?', '?'),
}

op_run = run_op
pipeline_run = run_pipeline


def _compartments(host: Mapping[str, Any], style: Style) -> str:
    found = host.get('compartments') or {}
    marks = []
    for name in NAMES:
        status = (found.get(name) or {}).get('status', 'unknown')
        unicode, ascii_mark = _SYMBOLS.get(status, ('?', '?'))
        marks.append(style(unicode if style.unicode else ascii_mark, _mark_colour(status)))
    return ' '.join(marks)


def _mark_colour(status: str) -> str:
    return {'ok': 'green', 'outdated': 'yellow', 'error': 'red', 'working': 'cyan'}.get(status, 'dim')


def _filters(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


# -- hosts -----------------------------------------------------------------------------------------------------
def hosts_list(api: ApiClient, args: argparse.Namespace) -> int:
    """`nixfleet hosts`."""
    result = api.hosts(connection=getattr(args, 'connection', None))
    if args.json:
        print_json(result)
        return 0
    style = Style()
    rows = [
        [
            style.host(h['id']),
            style.status(h.get('connection')),
            f'{h.get("pending_command")} ({h.get("command_status")})' if h.get('busy') else '',
            h.get('host_type'),
            h.get('agent_version'),
            h.get('generation'),
            _compartments(h, style),
            age(h.get('last_seen')),
        ]
        for h in result['hosts']
    ]
    print(table(['HOST', 'STATE', 'RUNNING', 'TYPE', 'AGENT', 'GENERATION', 'A G L S T', 'LAST SEEN'], rows, style))
    counts = result['counts']
    print(
        f'{counts.get("total", 0)} hosts: {counts.get("online", 0)} online, {counts.get("stale", 0)} stale, '
        f'{counts.get("offline", 0)} offline'
    )
    return 0


def host_show(api: ApiClient, args: argparse.Namespace) -> int:
    """`nixfleet hosts show HOST`."""
    host = api.host(args.host_id)
    if args.json:
        print_json(host)
        return 0
    style = Style()
    fields = (
        'id',
        'connection',
        'host_type',
        'os_version',
        'agent_version',
        'agent_impl',
        'generation',
        'nixpkgs_version',
        'location',
        'device_type',
        'theme_color',
        'color_source',
        'last_seen',
    )
    width = max(len(f) for f in fields)
    for name in fields:
        value = host.get(name)
        shown = style.status(value) if name == 'connection' else ('-' if value in (None, '') else str(value))
        print(f'{name.ljust(width)}  {shown}')
    if host.get('busy'):
        print(f'{"running".ljust(width)}  {host.get("pending_command")} {host.get("command_id")}')
    for name in NAMES:
        item = (host.get('compartments') or {}).get(name) or {}
        print(f'{name.ljust(width)}  {style.status(item.get("status", "unknown"))}  {item.get("message") or ""}')
    print(f'{"available ops".ljust(width)}  {", ".join(host.get("available_ops") or []) or "-"}')
    return 0


def host_remove(api: ApiClient, args: argparse.Namespace) -> int:
    """`nixfleet hosts remove HOST`."""
    result = api.remove_host(args.host_id)
    print_json(result) if args.json else print(result['command'].get('message') or f'removed {args.host_id}')
    return 0


def host_color(api: ApiClient, args: argparse.Namespace) -> int:
    """`nixfleet hosts color HOST COLOR`."""
    color = None if args.color.lower() in ('default', 'agent', 'none', '') else args.color
    result = api.set_color(args.host_id, color)
    if args.json:
        print_json(result)
    else:
        print(result['command'].get('message') or f'{args.host_id}: {(result.get("host") or {}).get("theme_color")}')
    return 0


# -- ops and pipelines -----------------------------------------------------------------------------------------
def ops_list(api: ApiClient, args: argparse.Namespace) -> int:
    """`nixfleet ops`."""
    catalog = api.catalog()
    if args.json:
        print_json(catalog)
        return 0
    style = Style()
    rows = [
        [
            o['id'],
            o['executor'],
            o['scope'],
            f'{o["hard_timeout"]:g}s',
            'yes' if o['requires_totp'] else '',
            o['description'],
        ]
        for o in catalog['ops']
    ]
    print(table(['OP', 'EXECUTOR', 'SCOPE', 'TIMEOUT', 'TOTP', 'DESCRIPTION'], rows, style))
    print()
    print(
        table(
            ['PIPELINE', 'OPS', 'DESCRIPTION'],
            [
                [p['id'], ' → '.join(p['ops']) if style.unicode else ' > '.join(p['ops']), p['description']]
                for p in catalog['pipelines']
            ],
            style,
        )
    )
    return 0


def pipelines_list(api: ApiClient, args: argparse.Namespace) -> int:
    """`nixfleet pipeline list`."""
    result = api.pipelines(limit=getattr(args, 'limit', 20))
    if args.json:
        print_json(result)
        return 0
    style = Style()
    rows = []
    for run in result['pipelines']:
        done = sum(1 for s in run.get('host_state', {}).values() if s.get('state') == 'done')
        rows.append(
            [
                run['id'],
                run['name'],
                style.status(run['status']),
                f'{done}/{len(run["hosts"])}',
                run.get('current_op') if run['status'] == 'RUNNING' else '',
                run.get('actor'),
                short_time(run.get('created_at')),
            ]
        )
    print(table(['RUN', 'PIPELINE', 'STATUS', 'DONE', 'STAGE', 'ACTOR', 'STARTED (UTC)'], rows, style))
    return 0


def pipeline_show(api: ApiClient, args: argparse.Namespace) -> int:
    """`nixfleet pipeline show RUN`."""
    run = api.pipeline(args.run_id)
    if args.json:
        print_json(run)
        return 0
    style = Style()
    print(
        f'{run["name"]} {run["id"]}: {style.status(run["status"])} (by {run.get("actor")}, '
        f'{short_time(run.get("created_at"))} UTC){" — " + run["message"] if run.get("message") else ""}'
    )
    print(pipeline_table(run, style))
    return 0


def pipeline_cancel(api: ApiClient, args: argparse.Namespace) -> int:
    """`nixfleet pipeline cancel RUN`."""
    run = api.pipeline_action(args.run_id, 'cancel')
    print_json(run) if args.json else print(f'{run["id"]}: cancel requested; running commands finish')
    return 0


def pipeline_retry(api: ApiClient, args: argparse.Namespace) -> int:
    """`nixfleet pipeline retry RUN`."""
    run = api.pipeline_action(args.run_id, 'retry-failed')['pipeline']
    print_json(run) if args.json else print(f'started {run["id"]} on {", ".join(run["hosts"])}')
    return 0


def pipeline_continue(api: ApiClient, args: argparse.Namespace) -> int:
    """`nixfleet pipeline continue RUN`: a halted rollout's waves that never started, as a new run."""
    run = api.pipeline_action(args.run_id, 'continue')['pipeline']
    print_json(run) if args.json else print(f'started {run["id"]} on {", ".join(run["hosts"])}')
    return 0


def pipeline_rollback_wave(api: ApiClient, args: argparse.Namespace) -> int:
    """`nixfleet pipeline rollback-wave RUN`: roll back the switched hosts of a halted rollout's failed wave."""
    result = api.pipeline_action(args.run_id, 'rollback-wave')
    if args.json:
        print_json(result)
    else:
        for row in result['results']:
            said = 'rolling back' if row['status'] == 'started' else f'not rolled back: {row["message"]}'
            print(f'{row["host_id"]}: {said}')
    return 0 if result['status'] == 'success' else 1


# -- commands and events ---------------------------------------------------------------------------------------
def commands_list(api: ApiClient, args: argparse.Namespace) -> int:
    """`nixfleet commands`."""
    filters = _filters(args, 'host', 'op', 'status', 'pipeline', 'since', 'until', 'limit', 'offset', 'cursor')
    filters.setdefault('limit', 50)
    page = api.commands(**filters)
    if args.json:
        print_json(page)
        return 0
    style = Style()
    rows = [
        [
            c['id'],
            style.host(c.get('host_id') or FLEET),
            c['op'],
            style.status(c['status']),
            duration(c),
            c.get('actor'),
            short_time(c.get('created_at')),
            cause(c),
        ]
        for c in page['commands']
    ]
    print(table(['ID', 'HOST', 'OP', 'STATUS', 'TOOK', 'ACTOR', 'CREATED (UTC)', 'CAUSE'], rows, style))
    _page_footer(page, 'commands')
    return 0


def _page_footer(page: Mapping[str, Any], what: str) -> None:
    shown = len(page[what])
    line = f'{shown} of {page["total"]} {what}'
    if page.get('next_cursor'):
        line += f' — next page: --cursor {page["next_cursor"]}'
    print(line, file=sys.stderr)


def command_show(api: ApiClient, args: argparse.Namespace) -> int:
    """`nixfleet commands show ID`."""
    command = api.command(args.command_id)
    if args.json:
        print_json(command)
        return 0
    style = Style()
    width = max(len(f) for f in COMMAND_FIELDS)
    for name in COMMAND_FIELDS:
        value = command.get(name)
        print(f'{name.ljust(width)}  {style.status(value) if name == "status" else ("-" if value is None else value)}')
    return 0


def command_output(api: ApiClient, args: argparse.Namespace) -> int:
    """`nixfleet commands output ID [--follow]` (the log as stored; `--json` prints entries)."""
    if args.json:
        print_json({'command_id': args.command_id, 'lines': api.output_entries(args.command_id)})
        return 0
    for line in api.output_text(args.command_id, follow=args.follow):
        print(line, flush=args.follow)
    if args.follow:
        return 0 if api.command(args.command_id)['success'] else 1
    return 0


def command_action(api: ApiClient, args: argparse.Namespace) -> int:
    """`nixfleet commands wait|kill|ignore|cancel ID`."""
    action = args.commands_action
    command = api.command_action(args.command_id, action, getattr(args, 'minutes', None) if action == 'wait' else None)
    print_json(command) if args.json else print(
        f'{command["id"]}: {command["op"]} on {command.get("host_id")} is {command["status"]}'
    )
    return 0


def events_list(api: ApiClient, args: argparse.Namespace) -> int:
    """`nixfleet events`."""
    filters = _filters(
        args, 'host', 'category', 'level', 'action', 'actor', 'since', 'until', 'limit', 'offset', 'cursor'
    )
    filters.setdefault('limit', 50)
    page = api.events(**filters)
    if args.json:
        print_json(page)
        return 0
    style = Style()
    rows = [
        [
            short_time(e['timestamp']),
            style.status(e['level']),
            e['category'],
            e.get('actor'),
            e.get('host_id'),
            e.get('action'),
            e['message'],
        ]
        for e in page['events']
    ]
    print(table(['TIME (UTC)', 'LEVEL', 'CATEGORY', 'ACTOR', 'HOST', 'ACTION', 'MESSAGE'], rows, style))
    _page_footer(page, 'events')
    return 0
