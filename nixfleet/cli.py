"""The `nixfleet` command: serve, demo, agent, hash-password, token, and the API commands (nixfleet.client)."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence

from nixfleet import __version__
from nixfleet.client.cli import add_api_parsers, add_global_options, api_url_given, run_api
from nixfleet.security.cli import add_token_parser


def _serve(args: argparse.Namespace) -> int:
    from nixfleet import logsetup
    from nixfleet.config import ConfigError, load_settings
    from nixfleet.server import serve

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f'nixfleet serve: {exc}', file=sys.stderr)
        return 2
    logsetup.configure(settings.log_level, settings.secret_values())
    serve(settings)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from nixfleet.demo import run_demo

    return run_demo(agents=args.agents, listen=args.listen)


def _agent(args: argparse.Namespace) -> int:
    from nixfleet.agent.cli import run_cli

    return run_cli(args.agent_args)


def _hash_password(args: argparse.Namespace) -> int:
    import bcrypt

    password = args.password
    if password is None:
        password = sys.stdin.readline().rstrip('\n') if not sys.stdin.isatty() else getpass.getpass('Password: ')
    if not password:
        print('nixfleet hash-password: empty password', file=sys.stderr)
        return 2
    print(bcrypt.hashpw(password.encode(), bcrypt.gensalt(12)).decode())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the `nixfleet` command."""
    parser = argparse.ArgumentParser(prog='nixfleet', description='Fleet management for NixOS and macOS hosts.')
    parser.add_argument('--version', action='version', version=f'nixfleet {__version__}')
    add_global_options(parser)
    sub = parser.add_subparsers(dest='command', required=True)

    serve = sub.add_parser('serve', help='run the dashboard (configured by NIXFLEET_* environment variables)')
    serve.set_defaults(func=_serve)

    demo = sub.add_parser('demo', help='run the dashboard with a simulated fleet and generated credentials')
    demo.add_argument('--agents', type=int, default=6, help='number of simulated agents (default 6)')
    demo.add_argument('--listen', default=None, help='host:port (default NIXFLEET_LISTEN or 127.0.0.1:8000)')
    demo.set_defaults(func=_demo)

    agent = sub.add_parser(
        'agent', help='run the NixFleet agent (use --simulate for a fake Nix system)', add_help=False
    )
    agent.add_argument('agent_args', nargs=argparse.REMAINDER)
    agent.set_defaults(func=_agent)

    hashpw = sub.add_parser('hash-password', help='print a bcrypt hash for NIXFLEET_PASSWORD_HASH')
    hashpw.add_argument('--password', help='password to hash (default: read from stdin or prompt)')
    hashpw.set_defaults(func=_hash_password)

    add_token_parser(sub)
    add_api_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `nixfleet` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ['agent']:  # the agent parses its own flags (they mirror the Go agent's environment)
        from nixfleet.agent.cli import run_cli

        return run_cli(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == 'token' and api_url_given(args):  # through /api/tokens instead of the database file
        from nixfleet.client.tokens import run_token_api

        args.api_handler = run_token_api
        return run_api(args)
    return int(args.func(args) or 0)


if __name__ == '__main__':
    sys.exit(main())
