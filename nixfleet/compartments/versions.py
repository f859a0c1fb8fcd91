"""The Agent compartment and the agent version a host is expected to run (from the admin's sources only)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from nixfleet.compartments.model import Compartment, show
from nixfleet.models import CompartmentStatus as S

EXPECTED_HINT = 'Set NIXFLEET_EXPECTED_AGENT_VERSION (e.g. 3.1.5, or go=3.1.5,python=0.2.0) to pin it'
AHEAD_HINT = (
    'The expected version comes from NIXFLEET_EXPECTED_AGENT_VERSION, else version.json `agentVersion`, else the '
    'version this dashboard ships with; pin the version you deploy there'
)
#: A version.json `agentVersion` given as one string applies to every agent implementation.
EVERY_IMPL = '*'


# -- the Agent compartment ----------------------------------------------------------------------------------------
def agent_compartment(agent_version: str, expected: str | None) -> Compartment:
    """The Agent compartment of a host whose agent reports `agent_version`, when no op makes it `working`."""
    version = agent_version.strip()
    if not version:
        return Compartment(status=S.UNKNOWN, message='Agent version not reported', action='check-version')
    if not expected:
        return Compartment(status=S.UNKNOWN, message=f'Agent {show(version)}; no expected version', hint=EXPECTED_HINT)
    if _plain_version(version) == _plain_version(expected):
        return Compartment(status=S.OK, message=f'Agent {show(version)} (current)')
    if version_key(_plain_version(version)) > version_key(_plain_version(expected)):
        # newer than expected is not outdated: a switch of this host is not expected to replace its agent
        return Compartment(
            status=S.OK, message=f'Agent {show(version)} (newer than the expected {show(expected)})', hint=AHEAD_HINT
        )
    return Compartment(
        status=S.OUTDATED,
        message=f'Agent {show(version)} (expected {show(expected)})',
        hint='Update the agent through the config repo (bump its flake input, then Pull + Switch)',
        action='check-version',
    )


# -- the expected version -----------------------------------------------------------------------------------------
def _plain_version(version: str) -> str:
    return version.strip().removeprefix('v')


def version_key(version: str) -> tuple[tuple[int, ...], str]:
    """Sort key for agent versions: numeric parts first (3.1.10 > 3.1.9), then the text."""
    return tuple(int(n) for n in re.findall(r'\d+', version)[:8]), version


def expected_agent_version(
    impl: str, setting: str, published: Mapping[str, str], shipped: Mapping[str, str]
) -> str | None:
    """The version agents of `impl` should run, from sources only the admin controls; the first that names it wins.

    1. `NIXFLEET_EXPECTED_AGENT_VERSION`: a plain value (`3.1.5`) applies to every implementation;
       `go=3.1.5,python=0.2.0` pins them one by one, and an implementation it leaves out falls through.
    2. version.json `agentVersion` (`published`): per implementation, or `EVERY_IMPL` for all.
    3. The version this dashboard ships with (`shipped`): its own Python agent, and the Go agent it speaks to.

    Never a version an agent reports: any agent holding the shared token can claim one (`agent_version 99.0.0`
    made every other host "outdated", and their healthy switches then ended STALE_BINARY).
    """
    return _from_setting(impl, setting) or published.get(impl) or published.get(EVERY_IMPL) or shipped.get(impl)


def setting_impls(setting: str) -> set[str]:
    """The implementations `NIXFLEET_EXPECTED_AGENT_VERSION` pins one by one (`go=3.1.5,...`)."""
    return {part.partition('=')[0].strip() for part in setting.split(',') if '=' in part} - {''}


def _from_setting(impl: str, setting: str) -> str | None:
    setting = setting.strip()
    if setting and '=' not in setting:
        return setting
    for part in setting.split(','):
        name, _, version = part.partition('=')
        if name.strip() == impl and version.strip():
            return version.strip()
    return None
