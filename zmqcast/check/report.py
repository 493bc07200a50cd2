"""The outcome of checking a trace: one result per invariant, gathered in a report.

Results are plain frozen values so the simulator, the stress harness and the
CLI can print, compare and serialise them without knowing how they were found.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InvariantResult:
    """Whether one invariant held over a trace, with a count and one example.

    ``checked`` counts what the checker examined, in ``unit`` (``"pairs"`` of
    message and node, ``"deliveries"``, ``"events"``...; each checker says
    which), ``violations`` how many of those failed. ``detail`` is one line:
    the first violation; for a held result, a note or ``""``; for a result
    over nothing (``checked == 0``), why there was nothing to check. On lossy
    channels a missing delivery is not a violation; it is counted in
    ``expected_losses`` instead.
    """

    name: str
    held: bool
    checked: int
    violations: int
    detail: str
    expected_losses: int = 0
    unit: str = ""

    @property
    def vacuous(self) -> bool:
        """Held only because there was nothing to check: not evidence of anything.

        Every printer says ``not checked`` rather than ``held`` for it; whether
        that fails a run is the caller's decision (``zmqcast stress`` fails a
        run that was meant to exercise the invariant, ``sim`` and ``check`` do not).
        """
        return self.held and self.checked == 0

    def verdict(self) -> str:
        """The verdict with its count and detail, as every printer shows it.

        ``held (4,466 pairs checked)``, ``held (4,466 pairs checked; 12
        deliveries missing on lossy channels)``, ``VIOLATED (3 of 4,466
        pairs): <first violation>`` or ``not checked (0 pairs: <why>)``.
        """
        what = f" {self.unit}" if self.unit else ""
        if not self.held:
            counted = f"{self.violations:,} of {self.checked:,}{what or ' checked'}"
            return f"VIOLATED ({counted})" + (f": {self.detail}" if self.detail else "")
        if self.vacuous:
            counted = f"0{what}" if what else "nothing to check"
            return f"not checked ({counted}" + (f": {self.detail})" if self.detail else ")")
        note = f"; {self.detail}" if self.detail else ""
        return f"held ({self.checked:,}{what} checked{note})"

    def line(self) -> str:
        """A one-line human summary, e.g. for a console or a test failure."""
        return f"{self.name}: {self.verdict()}"


@dataclass(frozen=True)
class CheckReport:
    """The results of every invariant checked over one trace, in a fixed order."""

    results: tuple[InvariantResult, ...]

    @property
    def ok(self) -> bool:
        """True if no invariant was violated (expected losses do not count against it).

        A vacuous result (nothing checked) does not make it False: see
        :attr:`InvariantResult.vacuous` and :meth:`unchecked`.
        """
        return all(r.held for r in self.results)

    def unchecked(self) -> list[InvariantResult]:
        """The results that held over nothing (``checked == 0``), in report order."""
        return [r for r in self.results if r.vacuous]

    def first_violation(self) -> InvariantResult | None:
        """The first result that did not hold, in report order, or None."""
        for result in self.results:
            if not result.held:
                return result
        return None

    def get(self, name: str) -> InvariantResult:
        """The result named ``name``; KeyError if that invariant was not checked."""
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    def summary(self) -> str:
        """One line per invariant."""
        return "\n".join(r.line() for r in self.results)
