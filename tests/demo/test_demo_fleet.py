"""The demo's simulated fleet and banner say what they are: Mac names run macOS, the login has no user name."""

from __future__ import annotations

from nixfleet.agent.fleet import host_profile
from nixfleet.agent.system import Platform
from nixfleet.demo import DEMO_HOSTS, FAILING_TEST_HOST, SLOW_SWITCH_HOST, _banner, demo_names, fleet_behaviour


def test_every_demo_host_name_matches_its_platform() -> None:
    for index, name in enumerate(DEMO_HOSTS):
        platform, location, _ = host_profile(index)
        assert name.startswith('mac') == (platform is not Platform.NIXOS), (name, platform)
        if name.startswith(('edge-', 'vps-')):
            assert location == 'cloud', (name, location)


def test_the_misbehaving_hosts_are_in_the_demo_and_misbehave_by_name() -> None:
    assert {SLOW_SWITCH_HOST, FAILING_TEST_HOST} <= set(demo_names(8))
    assert fleet_behaviour(SLOW_SWITCH_HOST).slow_ops.get('switch') == 3.0
    assert 'test' in fleet_behaviour(FAILING_TEST_HOST).fail_ops
    assert not fleet_behaviour('atlas').fail_ops and not fleet_behaviour('atlas').slow_ops


def test_the_printed_login_says_there_is_no_user_name() -> None:
    banner = _banner('http://localhost:8000', 'pw-123', 6)
    assert 'http://localhost:8000' in banner
    login = next(line for line in banner.splitlines() if 'pw-123' in line)
    assert 'no user name' in login
