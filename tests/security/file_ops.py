"""Every file operation Python makes while a test watches, seen through an audit hook (PEP 578).

A watched path must stay inside a root: `FileOps.escapes()` lists the operations that touched anything else —
anything but reading, and reading inside a sandbox (the test's own folder, where the data dir lives). The hook is
process-wide and permanent once added, so it is added once and does nothing while no `FileOps` is watching.
Operations relative to a directory descriptor (`dir_fd`, as `shutil.rmtree` makes them below its top folder) are
judged by that top folder.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Audit events naming paths: (positions of the paths, positions of directory descriptors, whether it changes).
_EVENTS: dict[str, tuple[tuple[int, ...], tuple[int, ...], bool]] = {
    'os.mkdir': ((0,), (2,), True),
    'os.remove': ((0,), (1,), True),
    'os.rmdir': ((0,), (1,), True),
    'os.rename': ((0, 1), (2, 3), True),
    'os.truncate': ((0,), (), True),
    'os.chmod': ((0,), (2,), True),
    'os.chown': ((0,), (3,), True),
    'os.utime': ((0,), (3,), True),
    'os.link': ((0, 1), (2, 3), True),
    'os.symlink': ((1,), (2,), True),
    'shutil.rmtree': ((0,), (1,), True),
    'shutil.copyfile': ((1,), (), True),
    'shutil.move': ((0, 1), (), True),
    'os.listdir': ((0,), (), False),
    'os.scandir': ((0,), (), False),
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


@dataclass(slots=True, frozen=True)
class FileOp:
    """One file operation: the audit event and the path it named."""

    event: str
    path: str
    changes: bool


@dataclass(slots=True)
class FileOps:
    """The operations made while watching, judged against `root` (changes) and `sandbox` (reads)."""

    root: Path
    sandbox: Path
    seen: list[FileOp] = field(default_factory=list)

    def escapes(self) -> list[FileOp]:
        """Operations outside `root`: any change, and reads inside `sandbox`."""
        root = _real(str(self.root))
        sandbox = _real(str(self.sandbox))
        return [
            op
            for op in self.seen
            if not _inside(_real(op.path), root) and (op.changes or _inside(_real(op.path), sandbox))
        ]


_lock = threading.Lock()
_watching: FileOps | None = None
_installed = False


def _real(path: str) -> str:
    try:
        return os.path.realpath(path)
    except ValueError:  # an embedded NUL: the call fails before it touches anything; judge the text
        return os.path.normpath(os.path.abspath(path.replace('\x00', '')))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    watching = _watching
    if watching is None:
        return
    if event == 'open':
        path, mode, flags = args
        changes = (mode is not None and any(c in str(mode) for c in 'wax+')) or bool((flags or 0) & _WRITE_FLAGS)
        paths: tuple[Any, ...] = (path,)
    elif event in _EVENTS:
        positions, descriptors, changes = _EVENTS[event]
        if any(i < len(args) and args[i] not in (None, -1) for i in descriptors):  # -1: none given
            return  # relative to a directory descriptor (inside shutil.rmtree): judged by the top folder
        paths = tuple(args[i] for i in positions if i < len(args))
    else:
        return
    for value in paths:
        if isinstance(value, str | bytes | os.PathLike):
            with _lock:
                watching.seen.append(FileOp(event, os.fsdecode(value), changes))


@contextmanager
def watch_file_ops(root: Path, sandbox: Path) -> Any:
    """Record every file operation of the process (all threads) until the block ends."""
    global _watching, _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    ops = FileOps(root=root, sandbox=sandbox)
    _watching = ops
    try:
        yield ops
    finally:
        _watching = None
