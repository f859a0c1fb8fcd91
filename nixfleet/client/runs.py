"""`nixfleet ops run` and `nixfleet pipeline run`: start through the API, stream per-host output, exit by outcome.

Exit codes: 0 when every host succeeded, 1 when any host did not (blocked, failed, skipped, cancelled, timed out
waiting), 2 for usage, authentication and connection problems (raised as UsageError / ApiError to the caller).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from nixfleet.causes import as_cell, cause, is_already_current, short_cause
from nixfleet.client.api import ApiClient, UsageError
from nixfleet.client.follow import SyncFollower
from nixfleet.client.render import Style, duration, print_json, print_record, table

#: The op name shown for fleet-wide commands (merge-pr, refresh-git).
FLEET = '(fleet)'
#: Stage outcomes that need no cause in the table (a skip follows a failure that has one).
_NOT_FAILED = ('SUCCESS', 'SKIPPED', 'CANCELLED', 'RUNNING', 'EXECUTING', 'PENDING', 'AWAITING_RECONNECT')


class RunPrinter:
    """A RunSink that prints `host | line` for people, or NDJSON records with `--json`."""

    def __init__(self, hosts: list[str], *, json_mode: bool, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.style = Style(self.out)
        self.json_mode = json_mode
        self.width = max([len(FLEET), *(len(h) for h in hosts)])
        self.bar = '│' if self.style.unicode else '|'

    def _prefix(self, command: Mapping[str, Any]) -> str:
        return self.style.host(command.get('host_id') or FLEET, self.width)

    def output(self, command: Mapping[str, Any], lines: list[dict[str, Any]]) -> None:
        """Print new output lines of a command."""
        if self.json_mode:
            for line in lines:
                record = {'type': 'output', 'command_id': command.get('id'), 'host_id': command.get('host_id')}
                print_record({**record, 'op': command.get('op'), **line}, self.out)
            return
        prefix = self._prefix(command)
        for line in lines:
            text = str(line.get('line', ''))
            if line.get('stream') == 'stderr':
                text = self.style(text, 'red')
            elif line.get('stream') == 'meta':
                text = self.style(text, 'dim')
            self.out.write(f'{prefix} {self.bar} {text}\n')
        self.out.flush()

    def finished(self, command: Mapping[str, Any]) -> None:
        """Print how a command ended."""
        if self.json_mode:
            print_record({'type': 'command_finished', 'command': dict(command)}, self.out)
            return
        status = str(command.get('status'))
        why = cause(command)
        parts = [
            self.style.mark(bool(command.get('success')) or is_already_current(command)),
            str(command.get('op')),
            self.style.status(status),
            duration(dict(command)) if status not in ('BLOCKED', 'SKIPPED', 'CANCELLED') else '',
        ]
        # every end but a plain success says why (a PARTIAL's problem, a satisfied stage's "already current")
        text = ' '.join(p for p in parts if p) + (f': {why}' if why else '')
        self.out.write(f'{self._prefix(command)} {self.bar} {text}\n')
        self.out.flush()


def _hosts(api: ApiClient, args: argparse.Namespace) -> list[str]:
    hosts = [h.strip() for value in args.host or [] for h in value.split(',') if h.strip()]
    if getattr(args, 'all_online', False):
        hosts += [h['id'] for h in api.hosts(connection='online')['hosts'] if h['id'] not in hosts]
    if not hosts:
        raise UsageError('give at least one --host HOST (or --all-online)')
    return hosts


def run_pipeline(api: ApiClient, args: argparse.Namespace) -> int:
    """`nixfleet pipeline run ID --host H …`."""
    hosts = _hosts(api, args)
    printer = RunPrinter(hosts, json_mode=args.json)
    options = {
        'max_parallel': args.max_parallel,
        'stop_on_failure_pct': args.stop_on_failure_pct,
        'force': args.force or None,
        'totp': args.totp,
        'waves': args.waves,
        'gate': args.gate,
        'on_failure': args.on_failure,
        'soak': args.soak,
    }
    if args.detach:
        started = api.start_pipeline(args.pipeline, hosts, **options)['pipeline']
        if args.json:
            print_json(started)
        else:
            print(f'pipeline {started["name"]} started: {started["id"]}')
        return 0
    with SyncFollower(api, printer) as follower:
        run = api.start_pipeline(args.pipeline, hosts, **options)['pipeline']
        run_id = run['id']
        if args.json:
            print_record({'type': 'pipeline_started', 'pipeline': run})
        else:
            print(
                printer.style(
                    f'pipeline {run["name"]} {run_id}: {" → ".join(run["ops"])} on {len(hosts)} hosts', 'bold'
                ),
                flush=True,
            )
        completed = follower.follow(
            lambda cmd: cmd.get('pipeline_id') == run_id,
            lambda state: state.pipelines.get(run_id, {}).get('status') not in (None, 'RUNNING'),
            timeout=args.timeout,
        )
    final = api.pipeline(run_id)
    if args.json:
        print_record({'type': 'pipeline_finished', 'pipeline': final, 'timed_out': not completed})
    else:
        _pipeline_summary(final, printer.style, timed_out=not completed)
    return 0 if completed and final['status'] == 'COMPLETE' else 1


def pipeline_table(run: Mapping[str, Any], style: Style) -> str:
    """Per host: its state in the run and each stage's outcome; then why each failed stage failed."""
    rows, failures = [], []
    for host in run['hosts']:
        state = run.get('host_state', {}).get(host, {}).get('state', '-')
        stages = []
        for op, stage in zip(run['ops'], run.get('stages', []), strict=False):
            cell = as_cell(stage.get(host))
            stages.append(_stage_cell(cell, style))
            if cell and cell.get('status') not in (*_NOT_FAILED, 'PARTIAL'):
                failures.append(f'  {style.host(host)} {op}: {style.status(str(cell["status"]))} {cause(cell)}')
        rows.append([style.host(host), style.status(state), *stages])
    text = table(['HOST', 'RESULT', *[op.upper() for op in run['ops']]], rows, style)
    if failures:
        text += '\n' + style('why:', 'bold') + '\n' + '\n'.join(line.rstrip() for line in failures)
    return text


def _stage_cell(cell: Mapping[str, Any] | None, style: Style) -> str:
    """A stage's outcome in the table: the status, with the short cause of a failure (`BLOCKED host offline`)."""
    if cell is None:
        return '-'
    if is_already_current(cell):
        return style('current', 'green')
    status = str(cell.get('status'))
    short = short_cause(cell) if status not in _NOT_FAILED else ''
    return style.status(status) + (f' ({short})' if short else '')


def _pipeline_summary(run: Mapping[str, Any], style: Style, *, timed_out: bool) -> None:
    done = sum(1 for s in run.get('host_state', {}).values() if s.get('state') == 'done')
    print()
    print(pipeline_table(run, style))
    line = f'pipeline {run["name"]} {run["id"]}: {style.status(run["status"])}, {done}/{len(run["hosts"])} hosts done'
    if run.get('message'):
        line += f' ({run["message"]})'
    if timed_out:
        line += ' — stopped waiting (--timeout); the run goes on'
    print(line, flush=True)


def run_op(api: ApiClient, args: argparse.Namespace) -> int:
    """`nixfleet ops run OP --host H …`: dispatch; with `--wait`, stream output until every command ended."""
    hosts = _hosts(api, args)
    options: dict[str, Any] = {'force': args.force or None, 'totp': args.totp, 'args': _op_args(args.arg)}
    if not args.wait:
        result = api.dispatch(args.op, hosts, **options)
        _print_dispatch(result, args.json)
        return 0 if result['status'] == 'success' else 1
    printer = RunPrinter(hosts, json_mode=args.json)
    with SyncFollower(api, printer) as follower:
        result = api.dispatch(args.op, hosts, **options)
        if args.json:
            print_record({'type': 'dispatched', **result})
        ids = {r['command_id'] for r in result['results'] if r['status'] == 'started' and r['command_id']}
        follower.expect(ids)
        for blocked in (r for r in result['results'] if r['status'] != 'started'):
            if not args.json:
                printer.output({'host_id': blocked['host_id']}, [{'stream': 'stderr', 'line': _blocked(blocked)}])
        completed = follower.follow(
            lambda cmd: cmd.get('id') in ids,
            lambda state: all(follower.ended(cid) for cid in ids),  # ended commands may leave the state
            timeout=args.timeout,
        )
    commands = [api.command(cid) for cid in sorted(ids)]
    succeeded = sum(1 for c in commands if c['success'])
    if args.json:
        print_record({'type': 'finished', 'commands': commands, 'timed_out': not completed})
    else:
        total = len(result['results'])
        tail = ' — stopped waiting (--timeout)' if not completed else ''
        print(f'{args.op}: {succeeded}/{total} hosts succeeded{tail}', flush=True)
    return 0 if completed and succeeded == len(result['results']) else 1


def _blocked(result: Mapping[str, Any]) -> str:
    return f'blocked: {result.get("message") or result.get("code")} ({result.get("code")})'


def _op_args(pairs: list[str] | None) -> dict[str, str] | None:
    parsed = {}
    for pair in pairs or []:
        key, sep, value = pair.partition('=')
        if not sep or not key:
            raise UsageError(f'--arg takes KEY=VALUE, not {pair!r}')
        parsed[key] = value
    return parsed or None


def _print_dispatch(result: Mapping[str, Any], json_mode: bool) -> None:
    if json_mode:
        print_json(result)
        return
    style = Style()
    rows = [
        [
            style.host(r['host_id'] or FLEET),
            style.status('started' if r['status'] == 'started' else 'BLOCKED'),
            r.get('command_id'),
            r.get('code'),
            r.get('message') if r['status'] != 'started' else '',
        ]
        for r in result['results']
    ]
    print(table(['HOST', 'RESULT', 'COMMAND', 'CODE', 'MESSAGE'], rows, style))
    summary = result['summary']
    print(f'{summary["started"]}/{summary["total"]} started', flush=True)
