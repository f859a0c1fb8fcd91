"""The README stays true: its settings table, its two-command quick start, CI running that test command."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from types import ModuleType

from nixfleet.config import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / 'README.md').read_text(encoding='utf-8')


def load_settings_table() -> ModuleType:
    """Import scripts/settings_table.py (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location('settings_table', ROOT / 'scripts' / 'settings_table.py')
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def section(title: str) -> str:
    """Return the README text under `## title`, up to the next `## ` heading."""
    match = re.search(rf'^## {re.escape(title)}\n(.*?)(?=^## |\Z)', README, re.M | re.S)
    assert match, f'README has no "## {title}" section'
    return match.group(1)


def quick_start_commands() -> list[str]:
    """The command lines of the first code block of the quick start."""
    block = re.search(r'```[a-z]*\n(.*?)```', section('Quick start'), re.S)
    assert block, 'the quick start has no code block'
    return [line.strip() for line in block.group(1).splitlines() if line.strip() and not line.startswith('#')]


def test_settings_table_matches_the_settings_model() -> None:
    settings_table = load_settings_table()
    documented = set(re.findall(r'^\| `(NIXFLEET_[A-Z0-9_]+)` \|', settings_table.current_table(README), re.M))
    model = {f'NIXFLEET_{name.upper()}' for name in Settings.model_fields}
    assert documented == model, f'missing: {sorted(model - documented)}; unknown: {sorted(documented - model)}'
    assert settings_table.current_table(README) == settings_table.render_table(), (
        'README configuration table is out of date: run `just readme`'
    )


def test_every_setting_has_a_description() -> None:
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []


def test_quick_start_is_two_commands_that_exist() -> None:
    commands = quick_start_commands()
    assert len(commands) == 2, commands
    run, test = commands
    assert run.split()[1:] == ['run'] and test.split()[1:] == ['test'], commands
    program = ROOT / run.split()[0]
    assert program.is_file() and os.access(program, os.X_OK), f'{program} is not an executable in the repository'


def test_ci_runs_the_readme_test_command() -> None:
    ci = ROOT / '.ci' / 'run'
    assert os.access(ci, os.X_OK), '.ci/run is not executable'
    lines = [line.strip() for line in ci.read_text(encoding='utf-8').splitlines()]
    assert 'set -euo pipefail' in lines
    assert quick_start_commands()[1] in lines, '.ci/run does not call the README test command'


def test_justfile_recipes_are_documented() -> None:
    justfile = (ROOT / 'justfile').read_text(encoding='utf-8')
    for recipe in ('run', 'test', 'lint', 'fmt', 'bench', 'build-image', 'deploy'):
        assert re.search(rf'^# \S.*\n{re.escape(recipe)}\b[^\n]*:', justfile, re.M), f'recipe {recipe} lacks a comment'
