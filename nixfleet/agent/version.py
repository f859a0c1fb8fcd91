"""The Python agent's version: the installed `nixfleet` distribution, else the checkout's pyproject.toml."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

AGENT_IMPL = 'python'


def _agent_version() -> str:
    try:
        return importlib.metadata.version('nixfleet')
    except importlib.metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[2] / 'pyproject.toml'
        try:
            return str(tomllib.loads(pyproject.read_text())['project']['version'])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return '0.0.0'


AGENT_VERSION = _agent_version()
