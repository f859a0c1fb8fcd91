"""AgentConfig from the Go agent's environment, and SimBehaviour from NIXFLEET_SIM_*."""

from __future__ import annotations

import pytest

from nixfleet.agent import AgentConfig, ConfigError, SimBehaviour
from nixfleet.agent.config import default_repo_dir

BASE = {'NIXFLEET_URL': 'wss://fleet.example.com/ws', 'NIXFLEET_TOKEN': 's3cret-token'}


def test_defaults_follow_the_go_agent() -> None:
    config = AgentConfig.from_env(BASE)

    assert (config.interval, config.location, config.device_type, config.branch) == (5, 'home', 'desktop', 'main')
    assert config.hostname and '.' not in config.hostname
    assert config.token.get_secret_value() == 's3cret-token'


def test_token_is_never_rendered() -> None:
    config = AgentConfig.from_env(BASE)

    assert 's3cret-token' not in repr(config) and 's3cret-token' not in str(config.model_dump())


def test_interval_zero_is_a_clear_error_not_a_panic() -> None:
    with pytest.raises(ConfigError, match='NIXFLEET_INTERVAL: Input should be greater than or equal to 1'):
        AgentConfig.from_env({**BASE, 'NIXFLEET_INTERVAL': '0'})


def test_missing_token_names_the_variable() -> None:
    with pytest.raises(ConfigError, match='NIXFLEET_TOKEN'):
        AgentConfig.from_env({'NIXFLEET_URL': BASE['NIXFLEET_URL']})


def test_variables_and_overrides() -> None:
    env = {**BASE, 'NIXFLEET_HOSTNAME': 'hsb0', 'NIXFLEET_INTERVAL': '2', 'NIXFLEET_LOG_LEVEL': 'WARN',
           'NIXFLEET_REPO_URL': 'git@github.com:me/nixcfg.git', 'NIXFLEET_THEME_COLOR': '#7aa2f7'}  # fmt: skip

    config = AgentConfig.from_env(env, hostname='gpc0', interval=None)

    assert (config.hostname, config.interval, config.log_level) == ('gpc0', 2, 'warning')
    assert config.isolated and config.repo_dir == default_repo_dir()
    assert config.theme_color == '#7aa2f7'


def test_legacy_nixcfg_variable_sets_the_repo() -> None:
    assert AgentConfig.from_env({**BASE, 'NIXFLEET_NIXCFG': '/etc/nixcfg'}).repo_dir == '/etc/nixcfg'


def test_sim_behaviour_from_env() -> None:
    env = {'NIXFLEET_SIM_FAIL': 'pull, switch', 'NIXFLEET_SIM_SLOW': 'switch:10,test:2.5', 'NIXFLEET_SIM_SPEED': '4'}

    behaviour = SimBehaviour.from_env(env)

    assert behaviour.fail_ops == {'pull', 'switch'}
    assert behaviour.slow_ops == {'switch': 10.0, 'test': 2.5}
    assert behaviour.seconds('switch', 8.0) == 20.0 and behaviour.seconds('pull', 8.0) == 2.0
