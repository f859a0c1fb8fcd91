"""`nixfleet token create|list|revoke` on a database file, no dashboard running
(docs/architecture.md#api-and-cli, issue 7 scope 3).

Proves that the CLI creates the database when missing, prints a token once (alone on stdout, or in `--json`),
lists without values, revokes by id, host or name, journals every change as an audit event, and refuses bad usage
with a non-zero exit and a message on stderr.
"""

from __future__ import annotations

import hashlib
import json

from nixfleet.config import Settings
from nixfleet.store import Store
from tests.security.helpers import run_cli, run_cli_json


def _read(settings: Settings, sql: str) -> list[tuple]:
    store = Store(settings.database_path)
    store.open()
    try:
        return store.read_sync(lambda db: db.execute(sql).fetchall())
    finally:
        store.close()


async def test_create_prints_the_token_once_and_stores_its_digest(settings: Settings) -> None:
    assert not settings.database_path.exists()

    code, out, err = await run_cli(settings, 'create', '--host', 'web1')

    assert code == 0, err
    token = out.strip()
    assert token.startswith('nfagent_') and '\n' not in token
    assert 'web1' in err and token not in err
    [(hostname, digest, prefix)] = _read(settings, 'SELECT hostname, token_hash, prefix FROM host_tokens')
    assert (hostname, digest) == ('web1', hashlib.sha256(token.encode()).hexdigest())
    assert token.startswith(prefix) and len(prefix) < len(token) // 2


async def test_list_and_revoke_with_json(settings: Settings) -> None:
    agent = await run_cli_json(settings, 'create', '--kind', 'agent', '--host', 'web1')
    api = await run_cli_json(settings, 'create', '--kind', 'api', '--name', 'ci')
    assert api['token'].startswith('nfapi_') and api['name'] == 'ci' and api['created_by'] == 'user'

    listed = await run_cli_json(settings, 'list')
    assert [(t['kind'], t['id']) for t in listed['tokens']] == [('agent', agent['id']), ('api', api['id'])]
    assert 'token' not in listed['tokens'][0] and agent['token'] not in json.dumps(listed)

    revoked = await run_cli_json(settings, 'revoke', api['id'])
    assert [(t['id'], t['active'], t['revoked_by']) for t in revoked['tokens']] == [(api['id'], False, 'user')]

    assert [t['id'] for t in (await run_cli_json(settings, 'list'))['tokens']] == [agent['id']]
    everything = await run_cli_json(settings, 'list', '--all', '--kind', 'api')
    assert [(t['id'], t['active']) for t in everything['tokens']] == [(api['id'], False)]


async def test_revoke_by_host_revokes_every_active_token_of_the_host(settings: Settings) -> None:
    first = await run_cli_json(settings, 'create', '--host', 'web1')
    second = await run_cli_json(settings, 'create', '--host', 'web1')
    other = await run_cli_json(settings, 'create', '--host', 'web2')

    revoked = await run_cli_json(settings, 'revoke', '--host', 'web1')

    assert sorted(t['id'] for t in revoked['tokens']) == sorted([first['id'], second['id']])
    assert [t['id'] for t in (await run_cli_json(settings, 'list'))['tokens']] == [other['id']]


async def test_human_list_shows_prefixes_not_tokens(settings: Settings) -> None:
    created = await run_cli_json(settings, 'create', '--name', 'grafana')

    code, out, _ = await run_cli(settings, 'list')

    assert code == 0
    assert 'grafana' in out and created['prefix'] in out and created['token'] not in out


async def test_every_change_is_an_audit_event(settings: Settings) -> None:
    created = await run_cli_json(settings, 'create', '--host', 'web1')
    await run_cli_json(settings, 'revoke', created['id'])
    await run_cli_json(settings, 'revoke', created['id'])  # already revoked: no second event

    events = _read(settings, 'SELECT category, actor, host_id, action, message, details FROM event_log ORDER BY id')

    assert [(e[0], e[1], e[2], e[3]) for e in events] == [
        ('audit', 'user', 'web1', 'token:create'),
        ('audit', 'user', 'web1', 'token:revoke'),
    ]
    assert all(created['token'] not in str(e) for e in events)
    assert json.loads(events[0][5])['via'] == 'cli'


async def test_refusals_exit_non_zero_with_a_reason(settings: Settings) -> None:
    await run_cli_json(settings, 'create', '--name', 'ci')
    cases = [
        (('create',), 2, '--host'),
        (('create', '--host', 'a', '--name', 'b'), 2, 'not both'),
        (('create', '--kind', 'api', '--host', 'a'), 2, '--name'),
        (('create', '--host', 'bad host'), 1, 'hostname'),
        (('create', '--name', 'ci'), 1, 'token_exists'),
        (('revoke',), 2, 'token id'),
        (('revoke', 'nope'), 1, 'unknown_token'),
        (('revoke', '--host', 'ghost'), 1, 'unknown_token'),
    ]
    for args, expected, reason in cases:
        code, out, err = await run_cli(settings, *args)
        assert (code, out) == (expected, ''), args
        assert reason in err, (args, err)
