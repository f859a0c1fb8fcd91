"""`nixfleet token create|list|revoke` through `/api/tokens` (when `NIXFLEET_API_URL` or `--api-url` is given).

Same arguments and output as the direct database mode (nixfleet.security.cli): the value of a new token alone on
stdout, so `TOKEN=$(nixfleet token create --name ci)` works; everything else on stderr; `--json` for scripts.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nixfleet.client.api import ApiClient, ApiError, UsageError
from nixfleet.client.render import Style, print_json, short_time, table
from nixfleet.security.cli import UsageError as TokenUsageError
from nixfleet.security.cli import _kind, scope_of


def run_token_api(api: ApiClient, args: argparse.Namespace) -> int:
    """Run one `nixfleet token` action against the API."""
    try:
        action = {'create': _create, 'list': _list, 'revoke': _revoke}[args.token_action]
        return action(api, args)
    except TokenUsageError as exc:
        raise UsageError(str(exc)) from None


def _create(api: ApiClient, args: argparse.Namespace) -> int:
    kind = _kind(args)
    if kind is None:
        raise UsageError('give --host HOST for an agent token or --name NAME for an API token')
    scope = scope_of(args, kind)
    created = api.create_token(kind.value, hostname=args.host, name=args.name, scope=scope.value if scope else None)
    if args.json:
        print_json(created)
    else:
        subject = created.get('hostname') or created.get('name')
        print(
            f'Created {kind.value} token {created["id"]} for {subject}. It is shown only now; store it safely:',
            file=sys.stderr,
        )
        print(created['token'])
    return 0


def _list(api: ApiClient, args: argparse.Namespace) -> int:
    tokens = api.tokens(args.kind, include_revoked=args.all)['tokens']
    if args.json:
        print_json({'tokens': tokens})
        return 0
    if not tokens:
        print('no tokens' if args.all else 'no active tokens (--all lists revoked ones too)', file=sys.stderr)
        return 0
    rows = [
        [
            t['id'],
            t['kind'],
            t.get('hostname') or t.get('name'),
            t.get('scope') or '-',
            t['prefix'] + '…',
            short_time(t['created_at']),
            short_time(t.get('last_used_at')),
            short_time(t.get('revoked_at')),
        ]
        for t in tokens
    ]
    print(table(['ID', 'KIND', 'HOST/NAME', 'SCOPE', 'PREFIX', 'CREATED', 'LAST USED', 'REVOKED'], rows, Style()))
    return 0


def _revoke(api: ApiClient, args: argparse.Namespace) -> int:
    kind = _kind(args)
    if (args.id is None) == (args.host is None and args.name is None):
        raise UsageError('give a token id, or --host HOST, or --name NAME')
    if args.id is None:
        assert kind is not None
        subject = args.host or args.name
        listed = api.tokens(kind.value)['tokens']
        targets = [(kind.value, t['id']) for t in listed if subject in (t.get('hostname'), t.get('name'))]
        if not targets:
            raise ApiError(404, 'unknown_token', f'no active {kind.value} token for {subject!r}')
    else:
        kinds = [kind.value] if kind is not None else _kinds_with_id(api, args.id)
        if not kinds:
            raise ApiError(404, 'unknown_token', f'no token with id {args.id!r}')
        if len(kinds) > 1:
            raise UsageError(f'both an agent and an API token have id {args.id!r}: give --kind')
        targets = [(kinds[0], args.id)]
    revoked = [api.revoke_token(k, token_id) for k, token_id in targets]
    if args.json:
        print_json({'tokens': revoked})
    else:
        for record in revoked:
            print(
                f'Revoked {record["kind"]} token {record["id"]} ({record.get("hostname") or record.get("name")}).',
                file=sys.stderr,
            )
    return 0


def _kinds_with_id(api: ApiClient, token_id: str) -> list[str]:
    found: list[Any] = []
    for kind in ('agent', 'api'):
        try:
            api.call('GET', f'/api/tokens/{kind}/{token_id}')
        except ApiError as exc:
            if exc.status != 404:
                raise
            continue
        found.append(kind)
    return found
