"""GitHub workflows (issue 9 point 5): actionlint on every workflow file, and the version.json step run for real.

actionlint comes from the dev extras (PyPI). Its shellcheck and pyflakes passes are switched off so the result
does not depend on what else is on PATH.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from nixfleet.compartments.version_json import parse_version_json

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted([*ROOT.glob('.github/workflows/*.yml'), *ROOT.glob('packaging/config-repo-workflows/*.yml')])


def actionlint() -> str:
    """The actionlint binary: next to this Python (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / 'actionlint'
    found = str(beside) if beside.exists() else shutil.which('actionlint')
    if found is None:
        pytest.fail('actionlint is missing: install the dev extras (pip install -e ".[dev]")')
    return found


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as True
    return workflow.get('on', workflow.get(True)) or {}


def steps(workflow: dict[Any, Any], job: str) -> list[dict[str, Any]]:
    return list(workflow['jobs'][job]['steps'])


def test_there_are_workflows() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in WORKFLOWS}
    assert {
        '.github/workflows/image.yml',
        '.github/workflows/nix.yml',
        'packaging/config-repo-workflows/version-json.yml',
        'packaging/config-repo-workflows/flake-update.yml',
    } <= names


@pytest.mark.parametrize('path', WORKFLOWS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_actionlint_passes(path: Path) -> None:
    result = subprocess.run(
        [actionlint(), '-no-color', '-shellcheck=', '-pyflakes=', str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / 'broken.yml'
    broken.write_text(
        'on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n'
        '      - run: echo "${{ github.event.nonexistent_context.x }}"\n        bogus-key: 1\n'
    )
    result = subprocess.run([actionlint(), '-no-color', str(broken)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and 'bogus-key' in result.stdout


def test_image_is_published_from_main_only_after_the_tests() -> None:
    workflow = load(ROOT / '.github/workflows/image.yml')
    assert triggers(workflow)['push']['branches'] == ['main']
    image = workflow['jobs']['image']
    assert image['needs'] == 'test' and image['permissions']['packages'] == 'write'
    build = next(s for s in steps(workflow, 'image') if s.get('uses', '').startswith('docker/build-push-action@'))
    assert build['with']['push'] is True
    metadata = next(s for s in steps(workflow, 'image') if s.get('uses', '').startswith('docker/metadata-action@'))
    assert metadata['with']['images'] == 'ghcr.io/${{ github.repository }}'
    assert any('.ci/run' in s.get('run', '') for s in steps(workflow, 'test'))


def test_flake_update_runs_weekly_and_after_each_release() -> None:
    workflow = load(ROOT / 'packaging/config-repo-workflows/flake-update.yml')
    assert {'schedule', 'workflow_dispatch', 'repository_dispatch'} <= set(triggers(workflow))
    assert triggers(workflow)['repository_dispatch']['types'] == ['nixfleet-released']
    image = load(ROOT / '.github/workflows/image.yml')
    dispatch = next(s for s in steps(image, 'image') if 'dispatches' in s.get('run', ''))
    assert 'event_type=nixfleet-released' in dispatch['run']


def test_flake_update_opens_a_pr_the_dashboard_recognises() -> None:
    workflow = load(ROOT / 'packaging/config-repo-workflows/flake-update.yml')
    update = next(s for s in steps(workflow, 'update') if 'update-flake-lock' in s.get('uses', ''))
    settings = update['with']
    assert {'dependencies', 'automated'} <= set(settings['pr-labels'].split())
    is_flake_update = pytest.importorskip('nixfleet.integrations.github_api').is_flake_update
    # either one is enough for the dashboard: the branch, and the title
    assert is_flake_update({'title': 'chore: deps', 'head': {'ref': settings['branch']}})
    assert is_flake_update({'title': settings['pr-title'], 'head': {'ref': 'patch-1'}})


@pytest.mark.skipif(shutil.which('jq') is None, reason='jq is not installed (GitHub runners have it)')
def test_version_json_step_writes_what_the_dashboard_reads(tmp_path: Path) -> None:
    workflow = load(ROOT / 'packaging/config-repo-workflows/version-json.yml')
    script = next(s for s in steps(workflow, 'build') if s.get('name') == 'Write version.json')['run']
    repo = tmp_path / 'nixcfg'
    repo.mkdir()
    lock = b'{"nodes": {"root": {}}, "root": "root", "version": 7}\n'
    (repo / 'flake.lock').write_bytes(lock)
    git = {'GIT_AUTHOR_DATE': '2026-01-05T11:15:42+01:00', 'GIT_COMMITTER_DATE': '2026-01-05T11:15:42+01:00'}
    env = {**os.environ, **git, 'GIT_CONFIG_NOSYSTEM': '1', 'HOME': str(tmp_path)}
    for args in (
        ['init', '-q', '-b', 'main'],
        ['add', 'flake.lock'],
        ['-c', 'user.name=ci', '-c', 'user.email=ci@example.test', 'commit', '-q', '-m', 'hsb0: enable "zram"\n\nbody'],
    ):
        subprocess.run(['git', *args], cwd=repo, env=env, check=True, timeout=30)
    head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=repo, capture_output=True, text=True, check=True).stdout
    run_env = {**env, 'REPO': 'me/nixcfg', 'BRANCH': 'main'}
    subprocess.run(['bash', '-eo', 'pipefail', '-c', script], cwd=repo, env=run_env, check=True, timeout=30)

    data = json.loads((repo / 'site/version.json').read_text())
    assert data == {
        'gitCommit': head.strip(),
        'message': 'hsb0: enable "zram"',
        'branch': 'main',
        'timestamp': '2026-01-05T10:15:42Z',
        'repo': 'me/nixcfg',
        'lockHash': hashlib.sha256(lock).hexdigest(),
    }
    parsed = parse_version_json(data)
    assert parsed.problems == {} and parsed.lock_hash == hashlib.sha256(lock).hexdigest()
