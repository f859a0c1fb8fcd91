"""Which hosts a typed History host filter means."""

from __future__ import annotations

from nixfleet.viewmodels.history_query import hosts_matching

HOSTS = {'h-1': 'web-01', 'h-2': 'web-02', 'h-3': 'db', 'h-4': 'db-replica'}


def test_an_exact_id_or_name_means_that_host_whatever_the_case() -> None:
    assert hosts_matching('WEB-02', HOSTS) == ['h-2']
    assert hosts_matching(' h-1 ', HOSTS) == ['h-1']
    assert hosts_matching('db', HOSTS) == ['h-3']  # exact beats the longer name containing it


def test_part_of_a_name_means_every_host_containing_it() -> None:
    assert hosts_matching('replica', HOSTS) == ['h-4']
    assert hosts_matching('web', HOSTS) == ['h-1', 'h-2']
    assert hosts_matching('mail', HOSTS) == []
    assert hosts_matching('  ', HOSTS) == []
