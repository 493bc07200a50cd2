"""Reading a run's event logs: ``RUN_DIR/events/*.jsonl``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson


class LogError(ValueError):
    """A run directory whose logs cannot be read; ``where`` names the file or line."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    """Every event of ``RUN_DIR/events/*.jsonl``, each node's in its own order.

    A torn last line (a node killed mid-write) is skipped; any other line that
    is not a JSON object raises :class:`LogError`.
    """
    files = sorted((run_dir / "events").glob("*.jsonl"))
    if not files:
        raise LogError("RUN_DIR", f"no event logs in {run_dir / 'events'}")
    events: list[dict[str, Any]] = []
    for path in files:
        lines = path.read_bytes().splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                if number == len(lines):
                    continue
                raise LogError(f"{path}:{number}", "not a JSON object") from None
            if not isinstance(event, dict):
                raise LogError(f"{path}:{number}", "not a JSON object")
            events.append(event)
    return events
