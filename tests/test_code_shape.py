"""The shape of the code a reader meets: small modules and functions, a docstring per module, no stale citations.

The limits are the ones docs/architecture.md states: a module fits in 400 lines, a function in 60, every module
says in its first lines what it is for, and comments cite only documents inside this repository.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / 'nixfleet'
MODULE_LINES = 400
FUNCTION_LINES = 60
#: Documents that live outside the repository (the design papers this project started from).
OUTSIDE_DOCUMENTS = re.compile(r'SPEC ?§|SPEC\.md|AGENT-PROTOCOL|ARCHITECTURE\.md|STACK-NOTES|PRD-v3|\.\./shared')


def _python_modules() -> list[Path]:
    return sorted(PACKAGE.rglob('*.py'))


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_no_module_is_longer_than_400_lines() -> None:
    long = {_relative(p): n for p in _python_modules() if (n := len(p.read_text().splitlines())) > MODULE_LINES}
    assert long == {}


def test_no_stylesheet_or_script_is_longer_than_400_lines() -> None:
    assets = [*PACKAGE.rglob('*.css'), *PACKAGE.rglob('*.js')]
    long = {_relative(p): n for p in assets if (n := len(p.read_text().splitlines())) > MODULE_LINES}
    assert assets, 'the UI ships stylesheets and scripts'
    assert long == {}


def test_no_function_is_longer_than_60_lines() -> None:
    long: dict[str, int] = {}
    for path in _python_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > FUNCTION_LINES:
                    long[f'{_relative(path)}:{node.lineno} {node.name}'] = length
    assert long == {}


def test_every_module_says_what_it_is_for_in_one_or_two_lines() -> None:
    summaries = {_relative(p): (ast.get_docstring(ast.parse(p.read_text())) or '').strip() for p in _python_modules()}
    silent = [path for path, text in summaries.items() if not text]
    long_winded = [path for path, text in summaries.items() if len(text.split('\n\n')[0].splitlines()) > 2]
    assert silent == []
    assert long_winded == []


def test_comments_cite_only_documents_in_the_repository() -> None:
    roots = [PACKAGE, ROOT / 'tests', ROOT / 'bench', ROOT / 'scripts']
    sources = [p for r in roots if r.exists() for p in r.rglob('*') if p.suffix in {'.py', '.js', '.css', '.md', '.sh'}]
    citing = [
        f'{_relative(p)}:{n}'
        for p in sources
        if p != Path(__file__).resolve()
        for n, line in enumerate(p.read_text(errors='replace').splitlines(), 1)
        if OUTSIDE_DOCUMENTS.search(line)
    ]
    assert citing == []
