"""The Nix flake (issue 9 point 3): every file parses, references existing files, and evaluates.

Nix cannot build here, but Debian's `nix-instantiate` (package nix-bin) can parse and evaluate. `eval-nix.nix`
evaluates flake.nix and each module against `stub-nixpkgs.nix`, which defines only the lib functions and packages
our files use, under their real names; the tests then check the systemd and launchd settings that come out, and run
the generated start script. The real evaluation and build is `nix flake check` in .github/workflows/nix.yml.
Without nix-instantiate these tests skip, unless NIXFLEET_REQUIRE_NIX=1 (CI) makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from nixfleet.agent.config import AgentConfig

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
NIX_FILES = sorted([ROOT / 'flake.nix', *ROOT.glob('nix/**/*.nix'), *HERE.glob('*.nix')])
AGENT_VARIABLES = {f'NIXFLEET_{name.upper()}' for name in AgentConfig.model_fields} | {'PATH'}
STUB_PACKAGE = '/nix/store/stub-nixfleet'


def nix_instantiate() -> str:
    found = shutil.which('nix-instantiate')
    if found is None:
        if os.environ.get('NIXFLEET_REQUIRE_NIX') == '1':
            pytest.fail('nix-instantiate is missing (Debian: apt-get install nix-bin) and NIXFLEET_REQUIRE_NIX=1')
        pytest.skip('nix-instantiate is not installed (Debian: apt-get install nix-bin)')
    return found


@cache
def evaluated(system: str) -> dict[str, Any]:
    """eval-nix.nix for one system, as JSON (evaluated once per system and test session)."""
    scratch = Path(os.environ.get('TMPDIR', '/tmp')) / f'nixfleet-nix-eval-{os.getuid()}'
    env = {
        **os.environ,
        'NIX_STATE_DIR': str(scratch / 'state'),
        'XDG_CACHE_HOME': str(scratch / 'cache'),
        'NIX_CONFIG': 'experimental-features =',
    }
    result = subprocess.run(
        [
            nix_instantiate(),
            '--readonly-mode',
            '--eval',
            '--strict',
            '--json',
            str(HERE / 'eval-nix.nix'),
            '--arg',
            'root',
            str(ROOT),
            '--argstr',
            'system',
            system,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


@pytest.mark.parametrize('path', NIX_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_nix_files_parse(path: Path) -> None:
    result = subprocess.run([nix_instantiate(), '--parse', str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_nix_files_reference_files_that_exist() -> None:
    for path in NIX_FILES:
        for reference in re.findall(r'(?<![\w.])(\.{1,2}/[\w./-]*[\w-])', path.read_text()):
            assert (path.parent / reference).exists(), f'{path.relative_to(ROOT)} refers to missing {reference}'


def test_package_lists_every_runtime_dependency() -> None:
    declared = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['dependencies']
    wanted = {re.split(r'[<>=!~; \[]', requirement, maxsplit=1)[0].lower() for requirement in declared}
    package = (ROOT / 'nix/package.nix').read_text()
    listed = re.search(r'dependencies = with python3Packages; \[(.*?)\];', package, re.DOTALL)
    assert listed is not None
    assert set(listed.group(1).split()) == wanted, 'nix/package.nix and pyproject.toml list different dependencies'


def test_flake_outputs() -> None:
    flake = evaluated('x86_64-linux')
    assert set(flake['outputs']) == {'packages', 'overlays', 'nixosModules', 'homeManagerModules', 'checks'}
    package = flake['package']
    assert package['pname'] == 'nixfleet' and package['mainProgram'] == 'nixfleet'
    assert package['version'] == tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['version']
    # the agent reports the flake's revision as source_commit (nixfleet.agent.real.agent_freshness)
    assert package['makeWrapperArgs'] == [
        '--set-default',
        'NIXFLEET_SOURCE_COMMIT',
        '0123456789abcdef' * 2 + '01234567',
    ]


def test_nixos_agent_module() -> None:
    agent = evaluated('x86_64-linux')['agent']
    assert {'url', 'tokenFile', 'hostname', 'interval', 'repoDir', 'location', 'deviceType', 'themeColor'} <= set(
        agent['options']
    )
    service = agent['serviceConfig']
    assert service['Restart'] == 'always' and service['RestartSec'] == 3
    assert service['RestartForceExitStatus'] == 101 and service['SuccessExitStatus'] == 101
    assert service['KillMode'] == 'mixed' and service['User'] == 'admin'
    assert service['LoadCredential'] == 'token:/run/agenix/nixfleet-token'  # the secret never enters the store
    assert agent['restartIfChanged'] is False  # an activation must not kill the switch the agent runs
    assert agent['environment']['NIXFLEET_URL'] == 'wss://fleet.example.com/ws'
    assert agent['environment']['NIXFLEET_THEME_COLOR'] == '#e0af68'
    assert 'NIXFLEET_HOSTNAME' not in agent['environment']  # unset options leave the agent's default
    assert set(agent['environment']) <= AGENT_VARIABLES
    assert agent['path'][0] == '/run/wrappers'  # sudo's setuid wrapper before anything else
    rules = agent['sudo']
    assert rules['condition'] is True and rules['content'][0]['users'] == ['admin']


def test_dashboard_module() -> None:
    dashboard = evaluated('x86_64-linux')['dashboard']
    assert {'listen', 'dataDir', 'environmentFile', 'openFirewall', 'package', 'settings'} <= set(dashboard['options'])
    assert dashboard['environment'] == {
        'NIXFLEET_LISTEN': '0.0.0.0:8443',
        'NIXFLEET_DATA_DIR': '/var/lib/nixfleet',
        'NIXFLEET_VERSION_URL': 'https://me.github.io/nixcfg/version.json',
        'NIXFLEET_GITHUB_POLL_TTL': '600',
    }
    service = dashboard['serviceConfig']
    assert service['ExecStart'] == f'{STUB_PACKAGE}/bin/nixfleet serve'
    assert service['EnvironmentFile']['content'] == '/run/agenix/nixfleet-env'
    assert service['ReadWritePaths'] == ['/var/lib/nixfleet'] and service['User'] == 'nixfleet'
    assert dashboard['firewall'] == {'_type': 'if', 'condition': True, 'content': [8443]}


@pytest.mark.parametrize('system', ['x86_64-linux', 'aarch64-darwin'])
def test_home_manager_module(system: str) -> None:
    hm = evaluated(system)['homeManager']
    darwin = system.endswith('darwin')
    assert (hm['darwin'], hm['linux']) == (darwin, not darwin)
    launchd, user = hm['launchd'], hm['systemd']
    assert launchd['KeepAlive'] is True and launchd['ThrottleInterval'] == 3 and launchd['RunAtLoad'] is True
    assert launchd['ProgramArguments'] == ['/nix/store/stub-nixfleet-agent-start']
    assert set(launchd['EnvironmentVariables']) <= AGENT_VARIABLES
    assert launchd['StandardOutPath'] == '/Users/admin/Library/Logs/nixfleet-agent.log'
    service = user['Service']
    assert service['Restart'] == 'always' and service['RestartSec'] == 3
    assert service['RestartForceExitStatus'] == 101 and service['KillMode'] == 'mixed'
    assert user['Unit']['X-RestartIfChanged'] is False
    assert '"NIXFLEET_URL=wss://fleet.example.com/ws"' in service['Environment']


@pytest.mark.parametrize(
    ('content', 'token'),
    [('s3cret\n', 's3cret'), ('NIXFLEET_TOKEN=s3cret\n', 's3cret')],
    ids=['bare token', 'env-file line'],
)
def test_start_script_reads_the_token_and_execs_the_agent(tmp_path: Path, content: str, token: str) -> None:
    script, seen = _start_script(tmp_path, content)
    proc = subprocess.Popen(['sh', str(script)], env={'CREDENTIALS_DIRECTORY': str(tmp_path / 'creds')})
    assert proc.wait(timeout=30) == 101  # systemd sees the agent's own exit code (RestartForceExitStatus=101)
    pid, got, *args = seen.read_text().split()
    assert got == token and args == ['agent']
    assert int(pid) == proc.pid  # exec: the agent is the main process, and leads its process group


def test_start_script_refuses_an_empty_token(tmp_path: Path) -> None:
    script, seen = _start_script(tmp_path, '\n')
    result = subprocess.run(
        ['sh', str(script)], env={'CREDENTIALS_DIRECTORY': str(tmp_path / 'creds')}, capture_output=True, text=True
    )
    assert result.returncode == 1 and 'token file is empty' in result.stderr and not seen.exists()


def _start_script(tmp_path: Path, token_file: str) -> tuple[Path, Path]:
    """The NixOS module's start script, with the package path pointing at a fake agent that exits 101."""
    text = evaluated('x86_64-linux')['agent']['start']
    (tmp_path / 'creds').mkdir()
    (tmp_path / 'creds/token').write_text(token_file)
    fake = tmp_path / 'pkg/bin/nixfleet'
    fake.parent.mkdir(parents=True)
    seen = tmp_path / 'seen'
    fake.write_text(f'#!/bin/sh\necho "$$ $NIXFLEET_TOKEN $*" > {seen}\nexit 101\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    script = tmp_path / 'start.sh'
    script.write_text(text.replace(STUB_PACKAGE, str(tmp_path / 'pkg')))
    return script, seen
