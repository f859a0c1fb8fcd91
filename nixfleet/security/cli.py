"""`nixfleet token create|list|revoke`: manage agent and API tokens directly in the dashboard's database.

It works whether or not the dashboard runs (the database is created when missing, so tokens can exist before the
first start). A running dashboard looks tokens up at every new connection and re-checks open agent links every few
seconds, so a revocation here also closes the live link. Each change is journaled in the event log (actor `user`,
`via: cli`). The token value is printed once, on stdout alone, so `TOKEN=$(nixfleet token create --host web1)`
works; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the parser is built for every `nixfleet` command: keep its imports light
    from sqlite_utils import Database

    from nixfleet.security.tokens import TokenKind, TokenRecord, TokenScope
    from nixfleet.store import Store

#: Actor journaled for changes made with the CLI (the single admin, docs/architecture.md#security).
CLI_ACTOR = 'user'
#: Values of `--kind` (nixfleet.security.tokens.TokenKind).
KINDS = ('agent', 'api')
#: Values of `--scope` (nixfleet.security.tokens.TokenScope).
SCOPES = ('read', 'operate')


def add_token_parser(sub: Any) -> None:
    """Add `token create|list|revoke` to the `nixfleet` sub-command parsers."""
    token = sub.add_parser('token', help='create, list and revoke agent and API tokens (works on the database file)')
    actions = token.add_subparsers(dest='token_action', required=True)
    kinds = list(KINDS)

    create = actions.add_parser('create', help='create a token and print it once')
    create.add_argument('--kind', choices=kinds, help='agent (needs --host) or api (needs --name); default from those')
    create.add_argument('--host', help='hostname an agent token is bound to')
    create.add_argument('--name', help='name of an API token (the actor api:<name> in the audit trail)')
    create.add_argument(
        '--scope',
        choices=SCOPES,
        help='what an API token may do: read (hosts, commands, events, metrics, sync) or operate (also dispatch and '
        'every change); default operate',
    )
    create.add_argument('--json', action='store_true', help='print the token and its record as JSON')

    listing = actions.add_parser('list', help='list tokens (never their values)')
    listing.add_argument('--kind', choices=kinds, help='only this kind')
    listing.add_argument('--all', action='store_true', help='include revoked tokens')
    listing.add_argument('--json', action='store_true', help='print JSON')

    revoke = actions.add_parser('revoke', help='revoke a token by id, or every active token of a host or name')
    revoke.add_argument('id', nargs='?', help='token id (see `nixfleet token list`)')
    revoke.add_argument('--kind', choices=kinds, help='kind of the id (default: whichever has it)')
    revoke.add_argument('--host', help='revoke every active agent token of this host')
    revoke.add_argument('--name', help='revoke the active API token with this name')
    revoke.add_argument('--json', action='store_true', help='print the revoked tokens as JSON')

    token.set_defaults(func=run_token)


class UsageError(Exception):
    """Arguments that do not make sense together."""


def _kind(args: argparse.Namespace) -> TokenKind | None:
    from nixfleet.security.tokens import TokenKind

    kind = TokenKind(args.kind) if args.kind else None
    if args.host and args.name:
        raise UsageError('give --host (agent token) or --name (API token), not both')
    if args.host:
        if kind is TokenKind.API:
            raise UsageError('--host is for agent tokens; API tokens take --name')
        return TokenKind.AGENT
    if args.name:
        if kind is TokenKind.AGENT:
            raise UsageError('--name is for API tokens; agent tokens take --host')
        return TokenKind.API
    return kind


def scope_of(args: argparse.Namespace, kind: TokenKind) -> TokenScope | None:
    """The `--scope` of a new token; refused for agent tokens (they have none)."""
    from nixfleet.security.tokens import TokenKind, TokenScope

    scope = getattr(args, 'scope', None)
    if scope is None:
        return None
    if kind is TokenKind.AGENT:
        raise UsageError('--scope is for API tokens (--name); agent tokens have no scope')
    return TokenScope(scope)


def run_token(args: argparse.Namespace) -> int:
    """Run one `nixfleet token` action; exit 0 on success, 1 when refused, 2 on bad usage or configuration."""
    from nixfleet.config import ConfigError, load_settings
    from nixfleet.security.tokens import TokenError
    from nixfleet.store import Store

    try:
        settings = load_settings(require_secrets=False)
    except ConfigError as exc:
        print(f'nixfleet token: {exc}', file=sys.stderr)
        return 2
    store = Store(settings.database_path)
    try:
        store.open()
        action = {'create': _create, 'list': _list, 'revoke': _revoke}[args.token_action]
        return action(store, args)
    except UsageError as exc:
        print(f'nixfleet token {args.token_action}: {exc}', file=sys.stderr)
        return 2
    except TokenError as exc:
        print(f'nixfleet token {args.token_action}: {exc.message} ({exc.code})', file=sys.stderr)
        return 1
    finally:
        store.close()


def _now() -> str:
    from nixfleet.timeutil import iso

    return iso()


def _create(store: Store, args: argparse.Namespace) -> int:
    from nixfleet.security.tokens import TOKEN_CREATE, CreatedToken, TokenKind, audit_event, create_token

    kind = _kind(args)
    if kind is None:
        raise UsageError('give --host HOST for an agent token or --name NAME for an API token')
    scope = scope_of(args, kind)

    def write(db: Database) -> CreatedToken:
        now = _now()
        subject = args.host if kind is TokenKind.AGENT else args.name
        created = create_token(db, kind, subject, actor=CLI_ACTOR, now=now, scope=scope)
        db.table('event_log').insert(audit_event(TOKEN_CREATE, created.record, actor=CLI_ACTOR, now=now, via='cli'))
        return created

    created = store.write_sync(write)
    if args.json:
        print(json.dumps(created.to_wire(), indent=2))
    else:
        print(f'Created {created.record.describe}. It is shown only now; store it safely:', file=sys.stderr)
        print(created.secret)
    return 0


def _list(store: Store, args: argparse.Namespace) -> int:
    from nixfleet.security.tokens import TokenKind, list_tokens

    kind = TokenKind(args.kind) if args.kind else None
    records = store.read_sync(lambda db: list_tokens(db, kind, include_revoked=args.all))
    if args.json:
        print(json.dumps({'tokens': [r.to_wire() for r in records]}, indent=2))
        return 0
    if not records:
        print('no tokens' if args.all else 'no active tokens (--all lists revoked ones too)', file=sys.stderr)
        return 0
    print(_table(records))
    return 0


def _table(records: list[TokenRecord]) -> str:
    header = ('ID', 'KIND', 'HOST/NAME', 'SCOPE', 'PREFIX', 'CREATED', 'LAST USED', 'REVOKED')
    rows = [
        (
            r.id,
            r.kind.value,
            r.subject,
            r.scope.value if r.scope is not None else '-',
            r.prefix + '…',
            r.created_at,
            r.last_used_at or '-',
            r.revoked_at or '-',
        )
        for r in records
    ]
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    return '\n'.join(
        '  '.join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in (header, *rows)
    )


def _revoke(store: Store, args: argparse.Namespace) -> int:
    from nixfleet.models import ErrorCode
    from nixfleet.security.tokens import (
        TOKEN_REVOKE,
        TokenError,
        TokenKind,
        active_ids,
        audit_event,
        get_token,
        revoke_token,
    )

    kind = _kind(args)
    if (args.id is None) == (args.host is None and args.name is None):
        raise UsageError('give a token id, or --host HOST, or --name NAME')

    def targets(db: Database) -> list[tuple[TokenKind, str]]:
        if args.id is None:
            assert kind is not None
            subject = args.host or args.name
            found = [(kind, token_id) for token_id in active_ids(db, kind, subject)]
            if not found:
                raise TokenError(ErrorCode.UNKNOWN_TOKEN, f'no active {kind.label} for {subject!r}')
            return found
        kinds = [kind] if kind is not None else [k for k in TokenKind if get_token(db, k, args.id) is not None]
        if not kinds:
            raise TokenError(ErrorCode.UNKNOWN_TOKEN, f'no token with id {args.id!r}')
        if len(kinds) > 1:
            raise UsageError(f'both an agent and an API token have id {args.id!r}: give --kind')
        return [(kinds[0], args.id)]

    def write(db: Database) -> list[tuple[TokenRecord, bool]]:
        now = _now()
        results = []
        for target_kind, token_id in targets(db):
            record, changed = revoke_token(db, target_kind, token_id, actor=CLI_ACTOR, now=now)
            if changed:
                db.table('event_log').insert(audit_event(TOKEN_REVOKE, record, actor=CLI_ACTOR, now=now, via='cli'))
            results.append((record, changed))
        return results

    results = store.write_sync(write)
    if args.json:
        print(json.dumps({'tokens': [record.to_wire() for record, _ in results]}, indent=2))
    else:
        for record, changed in results:
            print(f'{"Revoked" if changed else "Already revoked:"} {record.describe}.', file=sys.stderr)
    return 0
