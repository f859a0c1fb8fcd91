"""`RealSystem`: run the real git / Nix tools in their own process group and read the host's state."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import platform as platform_module
import signal
from pathlib import Path

import psutil

from nixfleet.agent import plans
from nixfleet.agent.config import AgentConfig, ConfigError
from nixfleet.agent.system import Emit, Facts, Freshness, Platform, Probe, Step
from nixfleet.agent.version import AGENT_VERSION

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent.parent
MAX_LINE = 64 * 1024
EOF_GRACE = 5.0  # seconds to wait for pipe EOF after the process exited (a daemonized grandchild may hold it)


class ProcessJob:
    """A child process in its own session, so signalling its group never reaches the agent."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self.pid = process.pid

    async def run(self, emit: Emit) -> int:
        """Stream stdout and stderr line by line to EOF, then return the exit code."""
        assert self._process.stdout is not None and self._process.stderr is not None
        readers = [
            asyncio.create_task(_pump(self._process.stdout, 'stdout', emit)),
            asyncio.create_task(_pump(self._process.stderr, 'stderr', emit)),
        ]
        try:
            code = await self._process.wait()
            _done, pending = await asyncio.wait(readers, timeout=EOF_GRACE)
            for task in pending:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            return code
        except asyncio.CancelledError:
            self.signal(signal.SIGKILL)
            for task in readers:
                task.cancel()
            raise

    def signal(self, signum: int) -> None:
        """Send `signum` to the job's whole process group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)


async def _pump(stream: asyncio.StreamReader, name: str, emit: Emit) -> None:
    """Emit every line of `stream` until EOF; split over-long lines instead of dropping them."""
    buffer = b''
    while chunk := await stream.read(65536):
        buffer += chunk
        *lines, buffer = buffer.split(b'\n')
        while len(buffer) > MAX_LINE:
            lines.append(buffer[:MAX_LINE])
            buffer = buffer[MAX_LINE:]
        for line in lines:
            emit(name, line.rstrip(b'\r').decode('utf-8', 'replace'))
    if buffer:
        emit(name, buffer.rstrip(b'\r').decode('utf-8', 'replace'))


class RealSystem:
    """Run commands on this machine: NixOS, nix-darwin or home-manager on macOS."""

    simulated = False

    def __init__(self, config: AgentConfig, platform: Platform | None = None) -> None:
        if not config.repo_dir:
            raise ConfigError('invalid agent configuration: set NIXFLEET_REPO_DIR or NIXFLEET_REPO_URL')
        self.config = config
        self.platform = platform or plans.detect_platform()
        self._facts: Facts | None = None
        self._env = dict(os.environ)
        if config.ssh_key:
            self._env['GIT_SSH_COMMAND'] = f'ssh -i {config.ssh_key} -o StrictHostKeyChecking=no'

    def facts(self) -> Facts:
        """Return the facts read by `prepare()`."""
        if self._facts is None:
            raise RuntimeError('RealSystem.prepare() has not run')
        return self._facts

    async def prepare(self, emit: Emit) -> None:
        """Check or clone the repo (isolated mode) and read the facts of this process."""
        repo = Path(self.config.repo_dir)
        has_git, is_dir = await asyncio.to_thread(lambda: ((repo / '.git').exists(), repo.is_dir()))
        if self.config.isolated and not has_git:
            log.info('cloning %s into %s', self.config.repo_url, repo)
            for step in plans.steps('clone', self.config, self.platform):
                if await (await self.start(step)).run(emit) != 0:
                    raise ConfigError(f'git clone of {self.config.repo_url} failed')
        elif not is_dir:
            raise ConfigError(f'invalid agent configuration: NIXFLEET_REPO_DIR {repo} does not exist')
        self._facts = await asyncio.to_thread(self._read_facts)

    async def probe(self) -> Probe:
        """Read generation, lock hash and metrics off the event loop."""
        return await asyncio.to_thread(self._probe)

    async def start(self, step: Step) -> ProcessJob:
        """Start one step in a new session (its own process group)."""
        process = await asyncio.create_subprocess_exec(
            *step.argv,
            cwd=step.cwd,
            env=self._env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        return ProcessJob(process)

    async def current_system(self) -> str:
        """Return the store path of the active system (or home-manager generation)."""
        link = '/run/current-system'
        if self.platform is Platform.HOME_MANAGER:
            link = str(Path.home() / '.local/state/nix/profiles/home-manager')
        return await asyncio.to_thread(os.path.realpath, link)

    def _read_facts(self) -> Facts:
        psutil.cpu_percent(interval=None)  # prime: the first non-blocking reading is meaningless
        nixpkgs = self.config.nixpkgs_version or _read_text(Path('/run/current-system/nixos-version'))
        return Facts(
            platform=self.platform,
            os_version=_os_version(),
            nixpkgs_version=nixpkgs,
            agent_version=AGENT_VERSION,
            freshness=agent_freshness(),
        )

    def _probe(self) -> Probe:
        repo = Path(self.config.repo_dir)
        try:
            lock_hash: str | None = hashlib.sha256((repo / 'flake.lock').read_bytes()).hexdigest()
        except OSError:
            lock_hash = None  # omitted from the heartbeat, like the Go agent does without a lock file
        return Probe(generation=read_git_head(repo)[:7], lock_hash=lock_hash, metrics=read_metrics())


def read_metrics() -> dict[str, float]:
    """Return cpu/ram/swap percentages and the 1-minute load average from psutil."""
    return {
        'cpu': round(psutil.cpu_percent(interval=None), 1),
        'ram': round(psutil.virtual_memory().percent, 1),
        'swap': round(psutil.swap_memory().percent, 1),
        'load': round(os.getloadavg()[0], 2),
    }


def read_git_head(repo: Path) -> str:
    """Return the commit HEAD resolves to, reading .git directly (loose or packed ref); '' when unknown."""
    git = repo / '.git'
    head = _read_text(git / 'HEAD')
    if not head.startswith('ref: '):
        return head
    ref = head.removeprefix('ref: ')
    if commit := _read_text(git / ref):
        return commit
    for line in _read_text(git / 'packed-refs').splitlines():
        commit, _, name = line.partition(' ')
        if name == ref:
            return commit
    return ''


@functools.cache
def agent_freshness() -> Freshness:
    """Return the freshness triple of the installed agent code (computed once per process)."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob('*.py')):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode() + b'\0' + path.read_bytes() + b'\0')
    commit = os.environ.get('NIXFLEET_SOURCE_COMMIT', '') or read_git_head(PACKAGE_DIR.parent)
    return Freshness(source_commit=commit, store_path=str(PACKAGE_DIR), binary_hash=digest.hexdigest())


def _os_version() -> str:
    if mac := platform_module.mac_ver()[0]:
        return mac
    for line in _read_text(Path('/etc/os-release')).splitlines():
        key, _, value = line.partition('=')
        if key == 'VERSION_ID':
            return value.strip('"')
    return ''


def _read_text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return ''
