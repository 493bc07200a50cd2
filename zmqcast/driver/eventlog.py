"""A node's event log: the JSONL file of README ("Event log"), or a list in memory.

A real node appends every event to ``RUN_DIR/events/<node>.jsonl``. The log
also outlives the process: a restarted node reads its predecessor's last
incarnation number from the log's end (:func:`last_incarnation`) and cuts a
record torn by a crash (:func:`open_event_log_tail`). A full disk stops the
node (:class:`WriteFailed`, :data:`LOG_FAILED_EXIT`), since a node without
its log cannot be checked.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol

import orjson

from zmqcast.core.events import Event
from zmqcast.wire import MAX_INT

LOG_FAILED_EXIT = 75
"""Exit status of a node that could not write its event log or a snapshot file.

75 is ``EX_TEMPFAIL`` of ``sysexits.h``: the node is fine, its disk is not, and
a restart once space is freed is the cure. A node without its log cannot be
checked, and a bank node's log is its ledger, so it stops rather than run on
unrecorded.
"""
TAIL_BLOCK = 1 << 16
"""Bytes read at a time when an event log is read backwards from its end."""
LOG_RESERVE = 1 << 13
"""Bytes of disk held beside the event log and given back to write the final
``stop`` record when the disk fills (a few filesystem blocks)."""


def _blocks_backwards(log: BinaryIO, size: int) -> Iterator[tuple[int, bytes]]:
    """``(offset, bytes)`` blocks of the first ``size`` bytes of ``log``, last block first."""
    end = size
    while end > 0:
        start = max(0, end - TAIL_BLOCK)
        log.seek(start)
        yield start, log.read(end - start)
        end = start


def open_event_log_tail(path: Path) -> int:
    """Cut a torn last line off an existing event log; return the log's size.

    A predecessor killed with ``kill -9`` in the middle of a write (or stopped
    by a full disk) leaves a partial record. Appending after it would bury it
    mid-file, where a reader cannot tell it from corruption, so it is dropped
    before the new incarnation appends. Only the end of the log is read.
    """
    try:
        with path.open("rb+") as log:
            size = log.seek(0, 2)
            keep = 0
            for start, block in _blocks_backwards(log, size):
                if start + len(block) == size and block.endswith(b"\n"):
                    return size
                cut = block.rfind(b"\n")
                if cut >= 0:
                    keep = start + cut + 1
                    break
            # No newline at all: the whole log is one torn record.
            if keep != size:
                log.truncate(keep)
            return keep
    except FileNotFoundError:
        return 0


def _complete_lines_backwards(log: BinaryIO, size: int) -> Iterator[bytes]:
    """The complete lines of ``log``, last first; a torn last line is skipped."""
    carry = b""
    torn = True  # what follows the last newline: a torn record, or nothing
    for _, block in _blocks_backwards(log, size):
        parts = (block + carry).split(b"\n")
        carry = parts[0]  # may continue in the block before this one
        for part in reversed(parts[1:]):
            if torn:
                torn = False
                continue
            yield part
    if not torn:
        yield carry


def last_incarnation(path: Path) -> int | None:
    """The ``inc`` of the last complete record of the event log at ``path``, if any.

    The log is read backwards from its end, so a long log costs a block or two:
    the last record is the predecessor's, the highest incarnation so far.
    Lines that are not a JSON object with an integer ``inc`` are passed over.
    """
    try:
        with path.open("rb") as log:
            size = log.seek(0, 2)
            for line in _complete_lines_backwards(log, size):
                try:
                    ev = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if type(ev) is dict and type(ev.get("inc")) is int:
                    inc: int = ev["inc"]
                    return inc
    except FileNotFoundError:
        pass
    return None


def wall_clock_ms() -> int:
    """Unix time in milliseconds: the usual incarnation number."""
    return int(time.time() * 1000)


class IncarnationError(ValueError):
    """No incarnation number is left above the previous one (the log says 2**53 - 1)."""


@dataclass(frozen=True, slots=True)
class IncarnationChoice:
    """The incarnation a node starts as, and what it was chosen from."""

    inc: int
    previous: int | None
    """The last incarnation in the node's event log, None on a first start."""
    wall_ms: int
    """The wall clock at start, in milliseconds."""

    @property
    def clock_back(self) -> bool:
        """The clock is not past the previous incarnation: it stepped back."""
        return self.previous is not None and self.wall_ms <= self.previous

    def clock_back_fields(self) -> dict[str, int] | None:
        """The fields of the ``clock_back`` event to log, or None if the clock is fine."""
        if self.previous is None or not self.clock_back:
            return None
        return {"previous": self.previous, "wall_ms": self.wall_ms}


def choose_incarnation(previous: int | None, wall_ms: int) -> IncarnationChoice:
    """``max(wall_ms, previous + 1)``: an incarnation that grows whatever the clock does.

    Peers drop frames of an incarnation lower than one they know, so a node
    whose clock stepped back behind its predecessor's start must still come
    back higher. Raise :class:`IncarnationError` if no number fits the wire's
    ``2**53 - 1``.
    """
    floor = 1 if previous is None else previous + 1
    inc = max(wall_ms, floor)
    if inc > MAX_INT:
        raise IncarnationError(
            f"the event log's last incarnation is {previous}; no higher one fits in 2**53 - 1"
        )
    return IncarnationChoice(inc, previous, wall_ms)


class WriteFailed(Exception):
    """A write to the event log or to a snapshot file failed: the node must stop."""

    def __init__(self, path: Path, error: OSError) -> None:
        self.path = path
        self.error = error
        super().__init__(self.line())

    def reason(self) -> str:
        """The OS error, e.g. ``No space left on device (errno 28)``."""
        err = self.error
        if err.strerror and err.errno is not None:
            return f"{err.strerror} (errno {err.errno})"
        return str(err)

    def line(self) -> str:
        """The one line a stopping node prints: the file and the OS error."""
        return (
            f"error: cannot write {self.path}: {self.reason()}; "
            f"stopping with exit status {LOG_FAILED_EXIT}"
        )


def hold_reserve(path: Path) -> IO[bytes] | None:
    """Hold :data:`LOG_RESERVE` bytes of disk on the event log's filesystem.

    An unlinked temporary file next to the log's real file: closing it gives
    the space back (and so does the kernel if the process is killed), which
    lets a node whose disk filled still write its final ``stop`` record. Best
    effort: None if the log is not a regular file (``/dev/full`` in tests) or
    the space cannot be had.
    """
    real = path.resolve()
    if real.exists() and not real.is_file():
        return None
    try:
        # Held open for the node's life, so no context manager.
        reserve = tempfile.TemporaryFile(dir=real.parent)  # noqa: SIM115
    except OSError:
        return None
    try:
        reserve.write(bytes(LOG_RESERVE))
        reserve.flush()
    except OSError:
        reserve.close()
        return None
    return reserve


class EventLog(Protocol):
    """Where a driver records events."""

    def write(self, events: list[Event]) -> None:
        """Append ``events``; raise :class:`WriteFailed` if they cannot be kept."""
        ...


class MemoryEventLog:
    """Events kept in a list (the simulator's trace); records are not stamped."""

    def __init__(self, events: list[Event] | None = None, *, keep: bool = True) -> None:
        """``keep=False`` drops every event (very long simulations)."""
        self.events: list[Event] = [] if events is None else events
        self.keep = keep

    def write(self, events: list[Event]) -> None:
        if self.keep:
            self.events.extend(events)


class FileEventLog:
    """The JSONL event log of one node, opened for a new incarnation.

    Opening cuts a torn last record, reads the predecessor's incarnation from
    the log's end and chooses this incarnation's number (:attr:`choice`).
    Each record is stamped with ``wall``, the Unix time it was written.
    """

    def __init__(
        self,
        path: Path,
        *,
        wall_ms: Callable[[], int] | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """``wall_ms`` is the clock the incarnation number is taken from (by
        default ``wall`` in milliseconds; tests turn it back). Raises
        :class:`OSError` if the log cannot be opened and
        :class:`IncarnationError` if no incarnation number is left."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._wall = wall
        self.restarted = open_event_log_tail(path) > 0
        # An incarnation must grow across restarts: milliseconds of wall time
        # do, unless the clock stepped back; the log's last record then says
        # which number the predecessor had.
        previous = last_incarnation(path) if self.restarted else None
        now_ms = wall_ms() if wall_ms is not None else int(wall() * 1000)
        self.choice = choose_incarnation(previous, now_ms)
        # Unbuffered: one write per batch of events, and after a failed write
        # nothing is left in a buffer to fail again at close.
        self._file = path.open("ab", buffering=0)
        self._reserve = hold_reserve(path)

    def write(self, events: list[Event]) -> None:
        if not events:
            return
        wall = round(self._wall(), 3)
        dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        chunks = []
        for ev in events:
            ev["wall"] = wall
            chunks.append(dumps(ev, option=newline))
        self._append(b"".join(chunks))

    def _append(self, data: bytes) -> None:
        """Write ``data``; :class:`WriteFailed` if it cannot be.

        A short write (the disk filled mid-record) is retried, so the error of
        the retry is what is reported.
        """
        view = memoryview(data)
        done = 0
        try:
            while done < len(view):
                done += self._file.write(view[done:])
        except OSError as exc:
            raise WriteFailed(self.path, exc) from None

    def last_words(self, ev: Event, failure: WriteFailed) -> None:
        """Try to end the log with the ``stop`` record ``ev`` after a failed write.

        The reserve is given back first, and a record torn by the failed
        write is cut (complete records before it stay), so the record gets a
        line of its own. Failure is ignored: there is nothing left to try.
        """
        self._release_reserve()
        ev.update(file=str(failure.path), error=failure.reason(), wall=round(self._wall(), 3))
        try:
            if stat.S_ISREG(os.fstat(self._file.fileno()).st_mode):
                open_event_log_tail(self.path)
            self._file.write(orjson.dumps(ev, option=orjson.OPT_APPEND_NEWLINE))
        except OSError:
            pass

    def _release_reserve(self) -> None:
        if self._reserve is not None:
            self._reserve.close()
            self._reserve = None

    def close(self) -> None:
        self._file.close()
        self._release_reserve()
