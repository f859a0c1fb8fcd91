"""Ids that are not plain hostnames (a migrated Go database accepted any) never become path components."""

from __future__ import annotations

from pathlib import Path

import pytest

from nixfleet.ops.logs import path_component
from tests.ops.helpers import Fleet

ODD = ['..', '.', '../../etc', 'a/b', '/abs', 'web-01/../..', '', '.hidden', 'x\\..\\y']


@pytest.mark.parametrize('host', ODD)
def test_an_odd_host_id_gets_a_folder_of_its_own_inside_the_logs_folder(fleet: Fleet, host: str) -> None:
    logs = fleet.engine.logs
    path = logs.path_for(host, 'c-1')
    root = logs.logs_dir.resolve()
    assert path.resolve().parent.parent == root, path
    assert logs.host_dir(host).resolve().parent == root
    assert path_component(host, '_fleet') != path_component('web-01', '_fleet')


def test_plain_ids_keep_their_names_and_derived_names_never_collide_with_them() -> None:
    assert path_component('web-01.example', '_fleet') == 'web-01.example'
    derived = {path_component(host, '_fleet') for host in ODD if host}
    assert len(derived) == len([h for h in ODD if h]) and all(name.startswith('_') for name in derived)


async def test_removing_a_host_whose_id_is_dot_dot_keeps_the_data_directory(fleet: Fleet) -> None:
    """Such a host arrives through the drop-in migration of a Go database; removing it once deleted the whole data
    directory (database and WAL included)."""
    await fleet.add('web-01')
    await fleet.started('test', 'web-01')  # web-01 has a log folder
    await fleet.dashboard.store.write(
        lambda db: db['hosts'].insert({'id': '..', 'hostname': '..', 'status': 'offline', 'created_at': '2025-01-01'})
    )
    await fleet.restart_server()  # loaded as the migration leaves it
    [result] = await fleet.dispatch('remove', '..')
    assert result.started, result
    await fleet.ended(result.command_id)

    data_dir = Path(fleet.settings.data_dir)
    assert (data_dir / 'nixfleet.db').exists()
    assert fleet.engine.logs.host_dir('web-01').is_dir(), "another host's logs were deleted"
    assert '..' not in fleet.dashboard.stream.value.hosts
    assert (await fleet.engine.get_command(result.command_id)) is not None  # the journal still works
