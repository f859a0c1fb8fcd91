"""Start and stop a throwaway `nixfleet serve` for one benchmark run (fresh data dir, generated secrets).

`running_server(workdir)` yields a `Server` once /health answers 200 and stops it with SIGTERM afterwards. A
`tree` runs the server from another checkout of the code (PYTHONPATH wins over the editable install), which is how
A/B runs compare two commits in the same session.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from record import log

COOKIE = 'nixfleet_session'
#: `nixfleet serve` without the NiceGUI UI mounted: the core alone (gateway, streams, store, /api/sync, login).
SERVE_CORE = (
    'from nixfleet import logsetup; from nixfleet.config import load_settings; from nixfleet.server import serve; '
    's = load_settings(); logsetup.configure(s.log_level, s.secret_values()); serve(s, with_ui=False)'
)


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


@dataclass(slots=True, kw_only=True)
class Server:
    """A `nixfleet serve` child process and the credentials it was started with."""

    process: subprocess.Popen[bytes]
    port: int
    agent_token: str
    password: str
    log_path: Path
    data_dir: Path
    api_token: str | None = None
    started_at: float = 0.0  #: time.monotonic() just before the process was started
    healthy_after: float = 0.0  #: seconds from process start to the first /health 200
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def http(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    @property
    def ws(self) -> str:
        return f'ws://127.0.0.1:{self.port}'

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        return '\n'.join(self.log_path.read_text(errors='replace').splitlines()[-lines:])


def python_env(tree: Path | None) -> dict[str, str]:
    """The environment without NIXFLEET_* settings; with `tree`, its code shadows the installed package."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('NIXFLEET_')}
    if tree is not None:
        env['PYTHONPATH'] = str(tree)
    return env


def server_env(data_dir: Path, port: int, agent_token: str, password: str, tree: Path | None) -> dict[str, str]:
    """Environment for a dashboard with the given data dir and generated secrets."""
    import bcrypt

    env = python_env(tree)
    env.update(
        NIXFLEET_LISTEN=f'127.0.0.1:{port}',
        NIXFLEET_DATA_DIR=str(data_dir),
        NIXFLEET_AGENT_TOKEN=agent_token,
        NIXFLEET_SESSION_SECRET=secrets.token_urlsafe(32),
        NIXFLEET_PASSWORD_HASH=bcrypt.hashpw(password.encode(), bcrypt.gensalt(10)).decode(),
        NIXFLEET_RATE_LIMIT='1000',
    )
    return env


def create_api_token(data_dir: Path, tree: Path | None, name: str = 'bench') -> str:
    """Create an API token in the data dir's database with the CLI (before the server starts); return it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = python_env(tree)
    env['NIXFLEET_DATA_DIR'] = str(data_dir)
    done = subprocess.run(
        [sys.executable, '-m', 'nixfleet', 'token', 'create', '--kind', 'api', '--name', name],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f'nixfleet token create failed ({done.returncode}): {done.stderr.strip()}')
    words = [w for w in done.stdout.split() if len(w) >= 24]
    if not words:
        raise SystemExit(f'no token in the output of nixfleet token create: {done.stdout!r}')
    return words[-1]


@contextlib.contextmanager
def running_server(
    workdir: Path,
    *,
    ui: bool = True,
    tree: Path | None = None,
    data_dir: Path | None = None,
    api_token: bool = False,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 90.0,
) -> Iterator[Server]:
    """Start a dashboard, wait until /health answers 200, and stop it (SIGTERM, then SIGKILL) afterwards."""
    port = free_port()
    agent_token, password = secrets.token_urlsafe(24), secrets.token_urlsafe(16)
    data_dir = data_dir or workdir / 'data'
    token = create_api_token(data_dir, tree) if api_token else None
    full_env = server_env(data_dir, port, agent_token, password, tree)
    full_env.update(env or {})
    log_path = workdir / 'server.log'
    with log_path.open('wb') as log_file:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, '-m', 'nixfleet', 'serve'] if ui else [sys.executable, '-c', SERVE_CORE],
            env=full_env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Server(
        process=process,
        port=port,
        agent_token=agent_token,
        password=password,
        log_path=log_path,
        data_dir=data_dir,
        api_token=token,
        started_at=started,
    )
    try:
        server.healthy_after = wait_healthy(server, startup_timeout)
        yield server
    finally:
        stop_server(server)


def wait_healthy(server: Server, timeout: float, poll: float = 0.02) -> float:
    """Poll /health until it answers 200; return seconds since the process started. Fail with the server's log
    when it exits or the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f'nixfleet serve exited with {server.process.returncode}:\n{server.log_tail()}')
        with contextlib.suppress(OSError), urllib.request.urlopen(f'{server.http}/health', timeout=2) as response:
            if response.status == 200:
                took = time.monotonic() - server.started_at
                log(f'dashboard pid {server.pid} healthy on port {server.port} after {took:.2f} s')
                return took
        time.sleep(poll)
    raise SystemExit(f'nixfleet serve not healthy within {timeout:.0f} s:\n{server.log_tail()}')


def stop_server(server: Server, grace: float = 20.0) -> None:
    """Stop the dashboard like `docker stop` does: SIGTERM, then SIGKILL after `grace` seconds."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(grace)
        except subprocess.TimeoutExpired:
            log(f'dashboard ignored SIGTERM for {grace:.0f} s; killing it')
            server.process.kill()
            server.process.wait()
    log(f'dashboard stopped (exit {server.process.returncode})')
    if keep := os.environ.get('BENCH_KEEP_LOG'):  # debugging: keep the server's log of the last run
        shutil.copy(server.log_path, keep)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def session_cookie(server: Server) -> str | None:
    """`name=value` of the session cookie a form POST of the password to /login yields, or None."""
    data = urllib.parse.urlencode({'password': server.password}).encode()
    request = urllib.request.Request(f'{server.http}/login', data=data, method='POST')
    try:
        headers = urllib.request.build_opener(_NoRedirect).open(request, timeout=10).headers
    except urllib.error.HTTPError as err:  # a 303 after login surfaces here because redirects are not followed
        headers = err.headers
    except OSError:
        return None
    cookies = [value.split(';', 1)[0].strip() for value in headers.get_all('Set-Cookie') or []]
    return next((c for c in cookies if c.startswith(f'{COOKIE}=') and len(c) > len(COOKIE) + 1), None)


def login_works(server: Server) -> bool:
    """Whether a form POST of the password to /login yields a session cookie (what the sync observer needs)."""
    return session_cookie(server) is not None
