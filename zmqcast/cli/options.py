"""Command-line options that several commands share, declared once.

Each shared flag has one meaning, one help text and one range everywhere:

* ``--loss``, ``--dup``, ``--reorder``: probabilities of what loss injection
  does to each outgoing frame (``--reorder``: swap it with the link's next
  frame); ``zmqcast sim`` gives ``--reorder`` the simulator's form of the same
  fault (see :class:`zmqcast.sim.network.FaultModel`);
* ``--seed``: a non-negative integer, at most :data:`MAX_SEED` (as the
  config's ``faults.seed``);
* ``--rate`` and ``--chat-rate``: per second per node, at most :data:`MAX_RATE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zmqcast.cli.errors import fail

BARE_REORDER = {"sim": 1.0}
"""What ``--reorder`` given without a number means, by command: the simulator
delays every frame by a random amount (its former switch), a real node swaps
with :data:`BARE_REORDER_RATE`."""
BARE_REORDER_RATE = 0.2
MAX_SEED = (1 << 63) - 1
"""The largest seed: the config's ``faults.seed`` takes no more."""
MAX_RATE = 100_000.0
"""The largest ``--rate`` (bank transfers) and ``--chat-rate``, per second per node."""

SEED_HELP = "Seed of the random choices: an integer from 0 to 2^63 - 1."
LOSS_HELP = "Drop each outgoing frame with this probability."
DUP_HELP = "Duplicate each outgoing frame with this probability."
REORDER_HELP = "Swap each outgoing frame with the link's next one, with this probability."
CHAT_RATE_HELP = "Multicast generated chat lines at this rate per second (0: none)."

ConfigOption = Annotated[Path, typer.Option("--config", help="Cluster config (JSON).")]
AdminKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--admin-key",
        help="With a config `security` block: the admin secret key file "
        "(default: security.admin_secret_key).",
    ),
]
SecureOption = Annotated[
    bool,
    typer.Option(
        "--secure",
        help="CurveZMQ on every link, with throwaway keys written under the run directory.",
    ),
]
LossRate = Annotated[float, typer.Option(help=LOSS_HELP)]
DupRate = Annotated[float, typer.Option(help=DUP_HELP)]
ReorderRate = Annotated[float, typer.Option(help=REORDER_HELP)]
SeedOption = Annotated[int, typer.Option(help=SEED_HELP)]
OptionalSeed = Annotated[int | None, typer.Option(help=SEED_HELP)]
"""``--seed`` where leaving it out keeps the config's ``faults.seed``."""


def check_seed(seed: int) -> int:
    """``seed`` if it is one; otherwise one line naming ``--seed`` and exit 2."""
    if not 0 <= seed <= MAX_SEED:
        fail("--seed", f"must be an integer from 0 to 2^63 - 1, got {seed}")
    return seed


def check_rate(flag: str, rate: float, *, zero: bool) -> float:
    """A per-second rate in ``(0, MAX_RATE]``, or ``[0, MAX_RATE]`` if ``zero``
    (0 then means none); otherwise one line naming ``flag`` and exit 2."""
    low_ok = rate >= 0 if zero else rate > 0
    if not (low_ok and rate <= MAX_RATE):
        lo = "[0" if zero else "(0"
        fail(flag, f"must be in {lo}, {MAX_RATE:.0f}] per second, got {rate:g}")
    return rate


def bare_reorder(argv: list[str]) -> list[str]:
    """``argv`` with a number after every ``--reorder`` that has none.

    ``--reorder`` takes a probability on every command; given alone, as in
    replay commands written before it took one, it means the command's
    default (:data:`BARE_REORDER`).
    """
    command = argv[0] if argv else ""
    bare = f"{BARE_REORDER.get(command, BARE_REORDER_RATE):g}"
    out: list[str] = []
    for i, token in enumerate(argv):
        out.append(token)
        if token == "--reorder" and (i + 1 == len(argv) or not _is_number(argv[i + 1])):
            out.append(bare)
    return out


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True
