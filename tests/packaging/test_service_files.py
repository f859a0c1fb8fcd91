"""The agent as a service (issue 9 point 3): the systemd unit and the launchd plist keep the Go agent's
restart semantics (docs/agent-protocol.md#agent-configuration:
Restart=always, RestartSec=3, RestartForceExitStatus=101) and configure
only variables the agent reads.
"""

from __future__ import annotations

import configparser
import plistlib
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from nixfleet.agent.config import AgentConfig

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / 'packaging/systemd/nixfleet-agent.service'
PLIST = ROOT / 'packaging/launchd/com.nixfleet.agent.plist'
#: Variables the agent reads: its settings, the token, the legacy repo dir, the freshness commit, and PATH.
AGENT_VARIABLES = {f'NIXFLEET_{name.upper()}' for name in AgentConfig.model_fields} | {
    'NIXFLEET_NIXCFG',
    'NIXFLEET_SOURCE_COMMIT',
    'PATH',
}


def unit_service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive in systemd
    parser.read_string(UNIT.read_text())
    return parser['Service']


def unit_environment() -> dict[str, str]:
    lines = re.findall(r'^Environment=([A-Z_]+)=(.*)$', UNIT.read_text(), re.MULTILINE)
    return dict(lines)


# -- systemd ---------------------------------------------------------------------------------------------------------
def test_unit_restarts_like_the_go_agent() -> None:
    service = unit_service()
    assert service['Restart'] == 'always'
    assert service['RestartSec'] == '3'
    assert service['RestartForceExitStatus'] == '101'
    assert service['SuccessExitStatus'] == '101'  # a switch is not a failure
    assert service['KillMode'] == 'mixed'
    assert service['ExecStart'].endswith('nixfleet agent')
    assert service['EnvironmentFile'] == '/etc/nixfleet/agent.env'


def test_unit_sets_only_variables_the_agent_reads() -> None:
    env = unit_environment()
    assert {'NIXFLEET_URL', 'NIXFLEET_INTERVAL', 'NIXFLEET_REPO_DIR', 'PATH'} <= set(env)
    commented = set(re.findall(r'^#Environment=([A-Z_]+)=', UNIT.read_text(), re.MULTILINE))
    assert {'NIXFLEET_HOSTNAME', 'NIXFLEET_THEME_COLOR', 'NIXFLEET_REPO_URL'} <= commented
    assert set(env) | commented <= AGENT_VARIABLES
    assert 'NIXFLEET_TOKEN' not in env  # the secret lives in the EnvironmentFile
    example = (ROOT / 'packaging/systemd/agent.env.example').read_text()
    assert re.search(r'^NIXFLEET_TOKEN=', example, re.MULTILINE)


@pytest.mark.skipif(shutil.which('systemd-analyze') is None, reason='systemd-analyze is not installed')
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify insists that ExecStart exists on this machine: point it at a binary that does
    unit = tmp_path / UNIT.name
    unit.write_text(re.sub(r'^ExecStart=\S+', 'ExecStart=/bin/true', UNIT.read_text(), flags=re.MULTILINE))
    result = subprocess.run(
        ['systemd-analyze', 'verify', '--man=no', str(unit)], capture_output=True, text=True, timeout=60
    )
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if unit.name in line]
    assert result.returncode == 0 and complaints == [], result.stdout + result.stderr


# -- launchd ---------------------------------------------------------------------------------------------------------
def test_plist_is_a_valid_keepalive_launch_agent() -> None:
    with PLIST.open('rb') as f:
        agent = plistlib.load(f)
    assert agent['Label'] == PLIST.stem == 'com.nixfleet.agent'
    assert agent['KeepAlive'] is True and agent['RunAtLoad'] is True
    assert agent['ThrottleInterval'] == 3
    assert agent['ProgramArguments'][:2] == ['/bin/sh', '-c']
    assert agent['ProgramArguments'][2].endswith('exec nixfleet agent')
    assert {'NIXFLEET_URL', 'NIXFLEET_REPO_DIR', 'PATH'} <= set(agent['EnvironmentVariables'])
    assert set(agent['EnvironmentVariables']) <= AGENT_VARIABLES
    assert agent['StandardOutPath'].startswith('/')  # launchd does not expand ~


def test_plist_wrapper_reads_the_token_and_keeps_the_agents_exit_code(tmp_path: Path) -> None:
    with PLIST.open('rb') as f:
        agent = plistlib.load(f)
    home = tmp_path / 'home'
    (home / '.config/nixfleet').mkdir(parents=True)
    (home / '.config/nixfleet/token').write_text('s3cret-token\n')
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    fake = bin_dir / 'nixfleet'
    fake.write_text(f'#!/bin/sh\necho "$$ $NIXFLEET_TOKEN $*" > {tmp_path}/seen\nexit 101\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {'HOME': str(home), 'PATH': f'{bin_dir}:/usr/bin:/bin'}
    proc = subprocess.Popen(agent['ProgramArguments'], env=env)
    assert proc.wait(timeout=30) == 101  # launchd sees the agent's own exit code
    pid, token, *args = (tmp_path / 'seen').read_text().split()
    assert token == 's3cret-token' and args == ['agent']
    assert int(pid) == proc.pid  # exec: the agent is the process launchd supervises
