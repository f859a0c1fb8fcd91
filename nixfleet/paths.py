"""Path containment: whether a path (a stored one too) resolves to a place inside a directory."""

from __future__ import annotations

from pathlib import Path


def inside(root: Path, path: Path | str) -> Path | None:
    """Where `path` resolves to, if that is inside `root` (not `root` itself); None otherwise, also for a path no file
    can have (a NUL byte: stored paths come from migrated databases too)."""
    try:
        resolved, base = Path(path).resolve(), root.resolve()
    except (OSError, ValueError):
        return None
    return resolved if resolved.is_relative_to(base) and resolved != base else None
