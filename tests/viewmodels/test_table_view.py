"""The host table's triage view without a browser: the URL a view is bookmarked as, the flags the status chips read
(last command failed, compartments not OK), and what the selection bar offers."""

from __future__ import annotations

import pytest

from nixfleet.ops.pipelines import PIPELINES
from nixfleet.ops.registry import OPS, Scope
from nixfleet.viewmodels.selection_menu import BUTTONS, ITEMS, MORE, targets
from nixfleet.viewmodels.table_sync import host_row
from nixfleet.viewmodels.table_view import CHIP_KEYS, SORTS, TableView, compartment_score


# -- the URL -----------------------------------------------------------------------------------------------------
def test_a_bookmarked_view_opens_as_it_was_shared() -> None:
    view = TableView.from_query({'status': 'failed,offline', 'q': ' web ', 'sort': 'seen', 'dir': 'desc'})

    assert view == TableView(chips=('offline', 'failed'), text='web', sort='seen', desc=True)
    assert view.to_query() == {'status': 'offline,failed', 'q': 'web', 'sort': 'seen', 'dir': 'desc'}
    assert TableView.from_query(view.to_query()) == view


def test_the_default_view_has_a_bare_url_and_nonsense_falls_back_to_it() -> None:
    assert TableView().to_query() == {}
    assert TableView.from_query({'status': 'green,,<script>', 'sort': 'evil', 'dir': 'sideways'}) == TableView()
    assert TableView.from_query({'q': 'x' * 5000}).text == 'x' * 200


@pytest.mark.parametrize('column', SORTS)
def test_a_column_without_a_direction_sorts_the_way_its_first_click_does(column: str) -> None:
    assert TableView.from_query({'sort': column}).desc is (SORTS[column] == 'desc')


def test_every_chip_is_known_to_the_url() -> None:
    assert TableView.from_query({'status': ','.join(CHIP_KEYS)}).chips == CHIP_KEYS


# -- row flags ---------------------------------------------------------------------------------------------------
def test_compartments_score_errors_above_outdated_and_ok_as_nothing() -> None:
    ok = {'agent': {'status': 'ok'}, 'git': {'status': 'working'}, 'lock': {'status': 'unknown'}}
    assert compartment_score(ok) == 0
    assert compartment_score({**ok, 'git': {'status': 'outdated'}}) == 1
    assert compartment_score({**ok, 'git': {'status': 'error'}, 'lock': {'status': 'outdated'}}) == 11
    row = host_row({'id': 'web-01', 'compartments': {'tests': {'status': 'error'}}})
    assert row['bad'] == 10


# -- the selection bar -------------------------------------------------------------------------------------------
def test_the_selection_bar_offers_every_host_op_and_every_pipeline_once() -> None:
    host_ops = {op.id for op in OPS.values() if op.scope is Scope.HOST}
    offered = [*BUTTONS, *(item.key for item in MORE)]

    assert sorted(offered) == sorted(host_ops | set(PIPELINES))
    assert {'update-agent', 'force-update'} <= {item.key for item in MORE}


def test_remove_acts_on_the_offline_hosts_only_and_agent_ops_on_the_online_ones() -> None:
    views = {
        'a': {'connection': 'online'},
        'b': {'connection': 'offline'},
        'c': {'connection': 'stale'},
        'd': {'connection': 'offline'},
    }
    selected = ['d', 'c', 'b', 'a', 'gone']

    assert targets(ITEMS['remove'], selected, views) == ['d', 'b']
    assert targets(ITEMS['update-agent'], selected, views) == ['a']
    assert targets(ITEMS['set-color'], selected, views) == ['d', 'c', 'b', 'a']
