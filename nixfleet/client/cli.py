"""The API sub-commands of `nixfleet`: hosts, ops, pipeline, commands, events (and `token` in API mode).

Each talks to a running dashboard through `/api` with an API token: `--api-url`/`--token` or `NIXFLEET_API_URL` /
`NIXFLEET_API_TOKEN`. Output is aligned columns for people (colour only on a terminal) and JSON with `--json`.
Exit codes: 0 success, 1 refused or failed (any host that did not succeed), 2 usage, authentication or connection.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nixfleet.models import CommandStatus

if TYPE_CHECKING:  # the parser is built for every `nixfleet` command: keep its imports light
    from nixfleet.client.api import ApiClient

Handler = Callable[['ApiClient', argparse.Namespace], int]
_S = argparse.SUPPRESS
#: Values of `--status` for commands.
_COMMAND_STATUSES = [status.value for status in CommandStatus]


def _connection_options(parser: argparse.ArgumentParser) -> None:
    """`--api-url`, `--token`, `--json` (suppressed defaults, so they may appear at any level)."""
    group = parser.add_argument_group('API connection')
    group.add_argument('--api-url', default=_S, help='dashboard URL (default: $NIXFLEET_API_URL)')
    group.add_argument('--token', dest='api_token', default=_S, help='API token (default: $NIXFLEET_API_TOKEN)')
    parser.add_argument('--json', action='store_true', default=_S, help='print JSON for scripts')


def _leaf(sub: Any, name: str, handler: Handler, help_text: str, **kw: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text, **kw)
    _connection_options(parser)
    parser.set_defaults(func=run_api, api_handler=handler)
    return parser


def _group(sub: Any, name: str, handler: Handler, help_text: str) -> tuple[argparse.ArgumentParser, Any]:
    parser = _leaf(sub, name, handler, help_text)
    return parser, parser.add_subparsers(dest=f'{name}_action', metavar='ACTION')


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--host', action='append', help='target host (repeatable, or comma-separated)')
    parser.add_argument('--all-online', action='store_true', help='target every online host')
    parser.add_argument('--force', action='store_true', help='skip pre-checks (never the one-command-per-host rule)')
    parser.add_argument('--totp', help='TOTP code, for ops that need one (reboot)')
    parser.add_argument('--timeout', type=float, help='stop waiting after this many seconds (exit 1)')


def _command_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--host', default=_S, help='only this host')
    parser.add_argument('--op', default=_S, help='only this op')
    parser.add_argument('--status', action='append', choices=_COMMAND_STATUSES, default=_S, help='repeatable')
    parser.add_argument('--pipeline', default=_S, help='only commands of this pipeline run')
    _paging(parser)


def _paging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--since', default=_S, help='at or after this time (ISO-8601, UTC unless an offset is given)')
    parser.add_argument('--until', default=_S, help='before this time')
    parser.add_argument('--limit', type=int, default=_S, help='page size (default 50)')
    parser.add_argument('--offset', type=int, default=_S, help='skip this many')
    parser.add_argument('--cursor', default=_S, help='next_cursor of a previous page')


def add_api_parsers(sub: Any) -> None:
    """Add `hosts`, `ops`, `pipeline`, `commands` and `events` to the `nixfleet` sub-command parsers."""
    from nixfleet.client import views

    for add in (_hosts_parsers, _ops_parsers, _pipeline_parsers, _commands_parsers, _events_parser):
        add(sub, views)


def _hosts_parsers(sub: Any, views: Any) -> None:
    _, hosts = _group(sub, 'hosts', views.hosts_list, 'list hosts (or show, remove, colour one)')
    _leaf(hosts, 'list', views.hosts_list, 'list hosts').add_argument(
        '--connection', choices=['online', 'stale', 'offline']
    )
    _leaf(hosts, 'show', views.host_show, 'show one host').add_argument('host_id', metavar='HOST')
    _leaf(hosts, 'remove', views.host_remove, 'remove an offline host (op remove)').add_argument(
        'host_id', metavar='HOST'
    )
    color = _leaf(hosts, 'color', views.host_color, "set a host's theme colour (op set-color)")
    color.add_argument('host_id', metavar='HOST')
    color.add_argument('color', help='#rgb or #rrggbb, or "default" for the agent\'s own colour')


def _ops_parsers(sub: Any, views: Any) -> None:
    _, ops = _group(sub, 'ops', views.ops_list, 'list ops, or run one on hosts')
    _leaf(ops, 'list', views.ops_list, 'list op and pipeline definitions')
    run = _leaf(ops, 'run', views.op_run, 'run an op on hosts (through dispatch)')
    run.add_argument('op', metavar='OP')
    _run_options(run)
    run.add_argument('--arg', action='append', metavar='KEY=VALUE', help='op argument, e.g. color=#ff9e64')
    run.add_argument(
        '--wait', action='store_true', help='stream output until every command ended; exit 1 if any failed'
    )


def _pipeline_parsers(sub: Any, views: Any) -> None:
    _, pipeline = _group(sub, 'pipeline', views.pipelines_list, 'list pipeline runs, or run, show, cancel, retry one')
    _leaf(pipeline, 'list', views.pipelines_list, 'list pipeline runs, newest first').add_argument(
        '--limit', type=int, default=20
    )
    prun = _leaf(pipeline, 'run', views.pipeline_run, 'run a pipeline, stream per-host output, exit 1 if a host failed')
    prun.add_argument('pipeline', metavar='PIPELINE', help='do-all, merge-deploy, update-agent, force-update')
    _run_options(prun)
    prun.add_argument('--max-parallel', type=int, help='at most N hosts at a time per stage')
    prun.add_argument('--stop-on-failure-pct', type=float, help='halt when more than P %% of hosts failed a stage')
    prun.add_argument('--waves', help='roll out in waves, each gated before the next: e.g. 1,10%%,rest or a+b,rest')
    prun.add_argument(
        '--gate', choices=['test'], help="health check after each host's switch: the test op (when not a stage)"
    )
    prun.add_argument(
        '--on-failure',
        choices=['rollback-and-halt', 'rollback-and-continue', 'halt', 'continue'],
        help='what a wave that fails its gate does (default with waves: rollback-and-halt)',
    )
    prun.add_argument('--soak', type=float, metavar='SECONDS', help='each wave must stay connected this long')
    prun.add_argument('--detach', action='store_true', help='start it and exit without following')
    for name, handler, text in (
        ('show', views.pipeline_show, 'show one pipeline run'),
        ('cancel', views.pipeline_cancel, 'cancel a running pipeline run'),
        ('retry', views.pipeline_retry, 'start a new run on exactly the failed hosts of a run'),
        ('continue', views.pipeline_continue, "start a halted rollout's waves that never started, as a new run"),
        ('rollback-wave', views.pipeline_rollback_wave, "roll back a halted rollout's failed wave"),
    ):
        _leaf(pipeline, name, handler, text).add_argument('run_id', metavar='RUN')


def _commands_parsers(sub: Any, views: Any) -> None:
    commands, actions = _group(sub, 'commands', views.commands_list, 'list commands (or show, output, act on one)')
    _command_filters(commands)
    _command_filters(_leaf(actions, 'list', views.commands_list, 'list commands, newest first'))
    _leaf(actions, 'show', views.command_show, 'show one command').add_argument('command_id', metavar='ID')
    output = _leaf(actions, 'output', views.command_output, "print a command's output")
    output.add_argument('command_id', metavar='ID')
    output.add_argument('-f', '--follow', action='store_true', help='keep printing until the command has ended')
    for name, text in (
        ('wait', "extend a running command's deadlines (--minutes)"),
        ('kill', 'kill a running command (SIGTERM, then SIGKILL)'),
        ('ignore', "dismiss a running command's alert, keep tracking it"),
        ('cancel', 'stop tracking a running command; the host is free again'),
    ):
        action = _leaf(actions, name, views.command_action, text)
        action.add_argument('command_id', metavar='ID')
        if name == 'wait':
            action.add_argument('--minutes', type=float, default=5.0)


def _events_parser(sub: Any, views: Any) -> None:
    events = _leaf(sub, 'events', views.events_list, 'list events, newest first')
    events.add_argument('--host', help='only this host')
    events.add_argument('--category', action='append', choices=['audit', 'system', 'error'], help='repeatable')
    events.add_argument('--level', action='append', choices=['info', 'warn', 'error', 'success'], help='repeatable')
    events.add_argument('--action', help='only this action; a trailing * matches a prefix (op:*)')
    events.add_argument('--actor', help='only this actor (user, api:NAME, agent:HOST, system)')
    _paging(events)


def add_global_options(parser: argparse.ArgumentParser) -> None:
    """`nixfleet --api-url URL --token T token …`: API mode for commands that have no flags of their own."""
    parser.add_argument('--api-url', dest='global_api_url', help=argparse.SUPPRESS)
    parser.add_argument('--token', dest='global_api_token', help=argparse.SUPPRESS)


def api_url_given(args: argparse.Namespace) -> bool:
    """Whether the API is configured (flag or environment), which puts `nixfleet token` in API mode."""
    import os

    from nixfleet.client.api import URL_ENV

    return bool(getattr(args, 'api_url', None) or getattr(args, 'global_api_url', None) or os.environ.get(URL_ENV))


def run_api(args: argparse.Namespace) -> int:
    """Run an API sub-command: connect, call its handler, turn errors into messages and exit codes."""
    from nixfleet.client.api import ApiClient, ApiError, ClientConfig, UsageError
    from nixfleet.client.follow import FollowLost

    name = ' '.join(str(v) for v in (args.command, getattr(args, f'{args.command}_action', None)) if v)
    args.json = getattr(args, 'json', False)
    try:
        config = ClientConfig.resolve(
            getattr(args, 'api_url', None) or getattr(args, 'global_api_url', None),
            getattr(args, 'api_token', None) or getattr(args, 'global_api_token', None),
        )
        with ApiClient(config) as api:
            return int(args.api_handler(api, args))
    except UsageError as exc:
        print(f'nixfleet {name}: {exc}', file=sys.stderr)
        return 2
    except ApiError as exc:
        print(f'nixfleet {name}: {exc.message} ({exc.code})', file=sys.stderr)
        return exc.exit_code
    except FollowLost as exc:
        print(f'nixfleet {name}: {exc}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f'nixfleet {name}: interrupted (what was started goes on)', file=sys.stderr)
        return 130
