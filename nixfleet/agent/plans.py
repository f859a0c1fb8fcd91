"""The command table: which programs each agent command runs, per platform
(docs/agent-protocol.md#command-vocabulary)."""

from __future__ import annotations

import getpass
import shutil
import sys
from pathlib import Path

from nixfleet.agent.config import AgentConfig
from nixfleet.agent.system import Platform, Step

# Placeholders: {repo} the flake checkout, {host} the hostname, {flake} = {repo}#{host}, {branch}, {agent} the CLI.
_PER_PLATFORM: dict[str, dict[Platform, tuple[str, ...]]] = {
    'switch': {
        Platform.NIXOS: ('sudo', 'nixos-rebuild', 'switch', '--flake', '{flake}'),
        Platform.NIX_DARWIN: ('sudo', 'darwin-rebuild', 'switch', '--flake', '{flake}'),
        Platform.HOME_MANAGER: ('home-manager', 'switch', '--flake', '{flake}'),
    },
    'rollback': {
        Platform.NIXOS: ('sudo', 'nixos-rebuild', '--rollback', 'switch'),
        Platform.NIX_DARWIN: ('sudo', 'darwin-rebuild', '--rollback'),
        Platform.HOME_MANAGER: (
            'sh',
            '-c',
            'g=$(home-manager generations | sed -n 2p | awk \'{print $NF}\') && [ -n "$g" ] && "$g/activate"',
        ),
    },
    'refresh-system': {
        Platform.NIXOS: ('{repo}#nixosConfigurations.{host}.config.system.build.toplevel',),
        Platform.NIX_DARWIN: ('{repo}#darwinConfigurations.{host}.system',),
        Platform.HOME_MANAGER: ('{repo}#homeConfigurations.{host}.activationPackage',),
    },
}

# Run every executable test script; fail when any fails or none exists (the Go agent only saw the last one).
_TESTS_SCRIPT = (
    'rc=0; n=0; for f in "$1"/*.sh; do [ -x "$f" ] || continue; n=$((n+1)); "$f" || rc=1; done; '
    '[ "$n" -gt 0 ] || { echo "no executable tests in $1" >&2; exit 1; }; exit $rc'
)

_COMMON: dict[str, tuple[tuple[str, ...], ...]] = {
    'pull': (('git', '-C', '{repo}', 'pull'),),
    'pull-isolated': (
        ('git', '-C', '{repo}', 'fetch', 'origin', '{branch}'),
        ('git', '-C', '{repo}', 'reset', '--hard', 'origin/{branch}'),
        ('git', '-C', '{repo}', 'clean', '-fd'),
    ),
    'clone': (('git', 'clone', '--branch', '{branch}', '--single-branch', '{url}', '{repo}'),),
    'test': (('sh', '-c', _TESTS_SCRIPT, 'nixfleet-tests', '{repo}/hosts/{host}/tests'),),
    'update': (('nix', 'flake', 'update'),),
    'update-agent-input': (('nix', 'flake', 'update', 'nixfleet'),),
    'refresh-lock': (('git', '-C', '{repo}', 'log', '-1', '--format=%ci', '--', 'flake.lock'),),
    'check-version': (('{agent}', 'agent', '--version'),),
    'reboot': (('sh', '-c', 'sleep 3 && exec sudo reboot'),),  # the delay lets the notice reach the dashboard
}


def detect_platform() -> Platform:
    """Return the platform of this machine: NixOS on Linux; nix-darwin or home-manager on macOS."""
    if sys.platform != 'darwin':
        return Platform.NIXOS
    if shutil.which('darwin-rebuild') or Path('/run/current-system/sw/bin/darwin-rebuild').exists():
        return Platform.NIX_DARWIN
    return Platform.HOME_MANAGER


def installed_agent_command() -> str:
    """Return the installed `nixfleet` CLI, looked up like the Go agent looks up its binary."""
    candidates = [
        Path('/run/current-system/sw/bin/nixfleet'),
        Path(f'/etc/profiles/per-user/{getpass.getuser()}/bin/nixfleet'),
    ]
    for path in candidates:
        if path.exists():
            return str(path)
    return shutil.which('nixfleet') or 'nixfleet'


def steps(op: str, config: AgentConfig, platform: Platform) -> list[Step]:
    """Return the steps of one operation; `kind` is the op name, so the simulator can fake the tool."""
    values = {
        'repo': config.repo_dir,
        'host': config.hostname,
        'flake': f'{config.repo_dir}#{config.hostname}',
        'branch': config.branch,
        'url': config.repo_url,
        'agent': installed_agent_command() if op == 'check-version' else 'nixfleet',
    }
    kind = op
    if op == 'pull' and config.isolated:
        op = 'pull-isolated'
    if op == 'update-agent-input':
        kind = 'update'
    if op == 'refresh-system':
        argv = ('nix', 'build', '--experimental-features', 'nix-command flakes', '--dry-run', '--json')
        templates: tuple[tuple[str, ...], ...] = (argv + _PER_PLATFORM[op][platform],)
    elif op in _PER_PLATFORM:
        templates = (_PER_PLATFORM[op][platform],)
    else:
        templates = _COMMON[op]
    cwd = config.repo_dir or None
    if op == 'clone':
        cwd = None
    return [Step(kind=kind, argv=tuple(_fill(part, values) for part in t), cwd=cwd) for t in templates]


def _fill(template: str, values: dict[str, str]) -> str:
    """Replace the {placeholders} of one argv part, leaving shell braces alone."""
    for key, value in values.items():
        template = template.replace('{' + key + '}', value)
    return template


def force_update_steps(config: AgentConfig, platform: Platform) -> list[Step]:
    """Return `force-update`: pull, bump the nixfleet input, switch bypassing the negative narinfo cache."""
    switch = steps('switch', config, platform)[0]
    rebuild = Step(kind='switch', argv=(*switch.argv, '--option', 'narinfo-cache-negative-ttl', '0'), cwd=switch.cwd)
    return [*steps('pull', config, platform), *steps('update-agent-input', config, platform), rebuild]
