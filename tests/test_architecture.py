"""The allowed import directions between the packages of `nixfleet`, read from the source (AST, nothing imported).

Every `import` counts, wherever it is written: at the top, inside a function, under `if TYPE_CHECKING:`.
Add a package by adding a row to `FORBIDDEN` (or a group to `NO_CYCLES`).
"""

from __future__ import annotations

import ast
import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / 'nixfleet'


@dataclass(frozen=True, slots=True)
class Forbidden:
    """Modules under `importer` must not import any module under one of `targets`."""

    importer: str
    targets: tuple[str, ...]


#: Who may not import whom (a name is a module or package under `nixfleet`; `app` is `nixfleet/app.py`).
FORBIDDEN = (
    Forbidden('security', ('api', 'ui', 'ops', 'app', 'gateway')),
    Forbidden('api', ('app', 'ui')),
    Forbidden('store', ('api', 'ui', 'ops', 'gateway')),
    Forbidden('ui', ('app', 'api')),
    Forbidden('viewmodels', ('app', 'api', 'ui')),
    Forbidden('journal', ('api', 'ui', 'viewmodels', 'gateway', 'app')),
    Forbidden('compartments', ('api', 'ui', 'viewmodels', 'app')),
)

#: Groups of packages with no import cycle among them (direct imports between members of the group).
NO_CYCLES = (('api', 'app', 'security'),)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports (`from a import b` counts as `a`, and as `a.b` too: b may be a module)."""
    tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
    package = _module_name(path) if path.name == '__init__.py' else _module_name(path).rpartition('.')[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')[: len(package.split('.')) - node.level + 1]
                base = '.'.join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f'{base}.{alias.name}' for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    """Module → the `nixfleet` modules it imports."""
    paths = {_module_name(path): path for path in sorted(ROOT.rglob('*.py'))}
    return {module: {name for name in _imports(path) if name in paths} for module, path in paths.items()}


def _under(module: str, name: str) -> bool:
    prefix = f'nixfleet.{name}'
    return module == prefix or module.startswith(prefix + '.')


def _violations(rule: Forbidden, graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f'{module} imports {target}'
        for module, targets in graph.items()
        if _under(module, rule.importer)
        for target in targets
        if any(_under(target, forbidden) for forbidden in rule.targets)
    )


@pytest.mark.parametrize('rule', FORBIDDEN, ids=lambda r: f'{r.importer}-not-{"-".join(r.targets)}')
def test_forbidden_imports(rule: Forbidden) -> None:
    violations = _violations(rule, _graph())
    assert violations == [], f'{rule.importer} must not import {", ".join(rule.targets)}:\n' + '\n'.join(violations)


def _package_edges(group: tuple[str, ...], graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Which members of `group` import which other members (with one module that does, for the message)."""
    edges: dict[str, set[str]] = {name: set() for name in group}
    for module, targets in graph.items():
        for source in (n for n in group if _under(module, n)):
            edges[source].update(n for n in group if n != source and any(_under(t, n) for t in targets))
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among the packages, or None."""
    for length in range(2, len(edges) + 1):
        for path in itertools.permutations(edges, length):
            if all(b in edges[a] for a, b in itertools.pairwise((*path, path[0]))):
                return [*path, path[0]]
    return None


@pytest.mark.parametrize('group', NO_CYCLES, ids='-'.join)
def test_no_import_cycles(group: tuple[str, ...]) -> None:
    cycle = _cycle(_package_edges(group, _graph()))
    assert cycle is None, 'import cycle: ' + ' → '.join(cycle or ())


def test_the_rules_name_real_packages() -> None:
    names = {n for rule in FORBIDDEN for n in (rule.importer, *rule.targets)} | {n for g in NO_CYCLES for n in g}
    missing = sorted(n for n in names if not (ROOT / n).is_dir() and not (ROOT / f'{n}.py').is_file())
    assert missing == []


def _uses_nicegui(path: Path) -> bool:
    """Whether the module imports NiceGUI, directly or through another `nixfleet.ui` module."""
    return any(name.split('.')[0] == 'nicegui' or name.startswith('nixfleet.ui.') for name in _imports(path))


def test_ui_holds_the_nicegui_modules_and_viewmodels_the_rest() -> None:
    """The UI naming rule (docs/architecture.md#ui-naming): a module is in `viewmodels/` exactly when it does not
    import NiceGUI, and `ui/` module names have no trailing underscore."""
    ui = [p for p in sorted((ROOT / 'ui').glob('*.py')) if p.name != '__init__.py']
    viewmodels = sorted((ROOT / 'viewmodels').glob('*.py'))
    assert [p.name for p in ui if not _uses_nicegui(p)] == []
    assert [p.name for p in viewmodels if _uses_nicegui(p)] == []
    assert [p.name for p in ui if p.stem.endswith('_')] == []
