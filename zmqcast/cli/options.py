"""Command-line options that several commands share, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

REORDER_RATE = 0.2
"""The per-frame swap probability that ``--reorder`` switches on."""

ConfigOption = Annotated[Path, typer.Option("--config", help="Cluster config (JSON).")]
LossRate = Annotated[float, typer.Option(help="Drop each outgoing frame.")]
DupRate = Annotated[float, typer.Option(help="Duplicate each outgoing frame.")]
ReorderFlag = Annotated[
    bool, typer.Option("--reorder", help=f"Swap frames with probability {REORDER_RATE}.")
]
