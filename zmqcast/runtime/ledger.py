"""A restarted bank node's ledger, read from its event log file.

See :mod:`zmqcast.core.ledger` for why the log is the ledger.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from zmqcast.core.ledger import Ledger


def read_ledger(path: Path, node_id: str) -> Ledger:
    """Replay ``bank_open``, ``app_send`` and ``app_recv`` of ``node_id`` from ``path``.

    Lines that do not parse (a torn tail is cut before this runs) are skipped.
    """
    ledger = Ledger()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return ledger
    for line in raw.splitlines():
        # Cheap pre-filter: most lines of a bank log are not about the account.
        if b'"bank_open"' not in line and b'"app_' not in line:
            continue
        try:
            ev = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if type(ev) is dict and ev.get("node") == node_id:
            ledger.apply(ev)
    return ledger
