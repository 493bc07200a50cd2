"""The outcome of checking a trace: one result per invariant, gathered in a report.

Results are plain frozen values so the simulator, the stress harness and the
CLI can print, compare and serialise them without knowing how they were found.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InvariantResult:
    """Whether one invariant held over a trace, with a count and one example.

    ``checked`` counts what the checker examined (deliveries, message/node
    pairs, events; each checker says which), ``violations`` how many of those
    failed. ``detail`` is one line: the first violation, or ``""`` if the
    invariant held. On lossy channels a missing delivery is not a violation;
    it is counted in ``expected_losses`` instead.
    """

    name: str
    held: bool
    checked: int
    violations: int
    detail: str
    expected_losses: int = 0

    def line(self) -> str:
        """A one-line human summary, e.g. for a console or a test failure."""
        if not self.held:
            return f"{self.name}: VIOLATED {self.violations}/{self.checked}: {self.detail}"
        if self.expected_losses:
            return f"{self.name}: held ({self.checked} checked; {self.detail})"
        return f"{self.name}: held ({self.checked} checked)"


@dataclass(frozen=True)
class CheckReport:
    """The results of every invariant checked over one trace, in a fixed order."""

    results: tuple[InvariantResult, ...]

    @property
    def ok(self) -> bool:
        """True if every invariant held (expected losses do not count against it)."""
        return all(r.held for r in self.results)

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
