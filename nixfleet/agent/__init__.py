"""The NixFleet Python agent: the Go agent's wire protocol (docs/agent-protocol.md#python-agent) with its quirks fixed.

Public API::

    AgentConfig.from_env(env: Mapping[str, str] | None = None, **overrides) -> AgentConfig   # raises ConfigError
    AgentConfig(url=..., token=..., hostname=..., interval=5, location=..., device_type=..., theme_color=...)

    async def run_agent(config, *, system: System | None = None, stop_event: asyncio.Event | None = None,
                        on_restart: Callable[[Restart], Awaitable[bool]] | None = None,
                        timing: Timing | None = None) -> int
        Run one agent. `system` defaults to RealSystem(config). Returns 0 once `stop_event` is set, or the exit code
        of a restart (101 after a successful switch, 0 for restart/reboot) when `on_restart` is None or returns
        False. Simulated agents pass `on_restart=system.restart`: they reconnect in-process 1-3 s later (scaled)
        with the freshness of the newly installed build instead of exiting.

    SimulatedSystem(*, hostname, platform=Platform.NIXOS, behaviour=None, remote=None, lock_age_days=1)
        .restart(restart) -> bool, .publish_agent(version), .remote_generation (get/set), .generation, .lock_hash
    SimBehaviour(fail_ops=set(), slow_ops={}, speed=1.0); SimBehaviour.from_env()  # NIXFLEET_SIM_FAIL/SLOW/SPEED
    SimRemote(head=..., agent_version=...).push(agent_version=None, lock=False) -> str

    SimulatedFleet(*, url, token, count=8, interval=5, speed=1.0, prefix='sim', remote=None,
                   behaviour=None, behaviours=None, ramp=0.0, timing=None)
        async start(), async stop(), `async with`; .hosts: dict[hostname, SimHost(config, system, task)]

    async def main(argv: Sequence[str] | None = None) -> int     # `nixfleet agent [--simulate] ...`
    def run_cli(args: Sequence[str] | None = None) -> int        # asyncio.run(main(args))

Example: 20 simulated agents against a local dashboard, all behind after one upstream push::

    fleet = SimulatedFleet(url='ws://127.0.0.1:8000/ws', token=token, count=20, speed=1.0)
    async with fleet:
        fleet.remote.push(agent_version='0.2.0')
        fleet.hosts['sim-03'].system.behaviour.fail_ops.add('switch')
        ...
"""

from nixfleet.agent.cli import main, run_cli
from nixfleet.agent.client import Agent, OnRestart, Timing, run_agent
from nixfleet.agent.config import AgentConfig, ConfigError
from nixfleet.agent.fleet import PALETTE, SimHost, SimulatedFleet
from nixfleet.agent.sim import SimBehaviour, SimRemote, SimulatedSystem
from nixfleet.agent.system import Facts, Freshness, Platform, Probe, Restart, Step, System
from nixfleet.agent.version import AGENT_IMPL, AGENT_VERSION

__all__ = [
    'AGENT_IMPL',
    'AGENT_VERSION',
    'PALETTE',
    'Agent',
    'AgentConfig',
    'ConfigError',
    'Facts',
    'Freshness',
    'OnRestart',
    'Platform',
    'Probe',
    'Restart',
    'SimBehaviour',
    'SimHost',
    'SimRemote',
    'SimulatedFleet',
    'SimulatedSystem',
    'Step',
    'System',
    'Timing',
    'main',
    'run_agent',
    'run_cli',
]
