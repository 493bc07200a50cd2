"""Where a driver puts snapshot files: a run directory, or memory (the simulator)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import orjson

from zmqcast.core.events import SnapshotFile
from zmqcast.driver.eventlog import WriteFailed
from zmqcast.fsutil import write_atomic


class SnapshotStore(Protocol):
    """Keeps the snapshot files a core asks to be written."""

    def write(self, f: SnapshotFile) -> None:
        """Store ``f``; raise :class:`WriteFailed` if it cannot be."""
        ...


class DirectorySnapshots:
    """``RUN_DIR/snapshots/<sid>/<name>.json``, each written atomically (README, "Files")."""

    def __init__(self, run_dir: Path) -> None:
        self.root = run_dir / "snapshots"

    def path(self, sid: str, name: str) -> Path:
        return self.root / sid / f"{name}.json"

    def write(self, f: SnapshotFile) -> None:
        path = self.path(f.sid, f.name)
        try:
            write_atomic(path, orjson.dumps(f.content, option=orjson.OPT_INDENT_2))
        except OSError as exc:
            raise WriteFailed(path, exc) from None


class MemorySnapshots:
    """Snapshot files kept in a list, in the order they were written."""

    def __init__(self, files: list[SnapshotFile] | None = None) -> None:
        self.files: list[SnapshotFile] = [] if files is None else files

    def write(self, f: SnapshotFile) -> None:
        self.files.append(f)
