"""Every simulated frame crosses the wire codec, so codec bugs fail simulations."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import orjson
import pytest

from zmqcast.core.frames import Ack, Data, Frame, Item, MulticastMeta
from zmqcast.sim import runner
from zmqcast.sim.runner import CodecError, SimParams, simulate
from zmqcast.wire import decode

PARAMS = SimParams(
    nodes=4,
    messages=15,
    loss=0.2,
    dup=0.1,
    reorder=True,
    crash=True,
    partition=True,
    workload="mixed",
    snapshots=2,
    variant="all",
    seed=9,
)


def test_every_arriving_frame_is_decoded_from_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    def counting(parts: Sequence[bytes], **kwargs: int) -> Frame:
        assert all(type(p) is bytes for p in parts)
        seen.append(len(parts))
        return decode(parts, **kwargs)

    monkeypatch.setattr(runner, "decode", counting)
    result = simulate(PARAMS)
    assert result.ok, result.failure()
    faults = result.summary["faults"]
    lost = faults["dropped"] + faults["partition_drops"] + faults["to_down_node"]
    arrived = result.summary["frames"]["total"] - lost + faults["duplicated"]
    # A duplicate of a dropped-on-arrival frame may also go to a down node.
    assert len(seen) <= arrived
    assert len(seen) >= result.summary["frames"]["total"] - lost
    assert set(seen) == {1, 3}  # control frames; data frames with item table and payload


def test_a_codec_that_corrupts_meta_breaks_integrity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off by a thousand in the origin sequence number: nodes deliver messages
    that were never multicast, which the integrity checker sees in the trace."""

    def corrupting(parts: Sequence[bytes], **kwargs: int) -> Frame:
        frame = decode(parts, **kwargs)
        if isinstance(frame, Data):
            items = tuple(
                Item(
                    it.seq,
                    it.meta._replace(oseq=it.meta.oseq + 1000)
                    if isinstance(it.meta, MulticastMeta)
                    else it.meta,
                    it.body,
                )
                for it in frame.items
            )
            return dataclasses.replace(frame, items=items)
        return frame

    def unchecked(self: runner.Simulation, wire: tuple[list[bytes], Frame]) -> Frame:
        # Without the simulator's equality check: what do the invariants alone see?
        return corrupting(wire[0], max_size=self.cfg.max_frame_bytes)

    monkeypatch.setattr(runner.Simulation, "_decode", unchecked)
    # Corrupted ids are never released, so the run cannot go quiet: cut it short.
    chat = dataclasses.replace(PARAMS, workload="chat", snapshots=0, variant="", max_time=20.0)
    result = simulate(chat)
    assert not result.ok
    assert not result.report.get("integrity").held


def test_a_codec_that_loses_a_field_is_caught_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def forgetful(parts: Sequence[bytes], **kwargs: int) -> Frame:
        frame = decode(parts, **kwargs)
        if isinstance(frame, Ack) and frame.sack:
            return dataclasses.replace(frame, sack=())
        return frame

    monkeypatch.setattr(runner, "decode", forgetful)
    with pytest.raises(CodecError, match="ack frame changed"):
        simulate(dataclasses.replace(PARAMS, loss=0.3, crash=False, partition=False))


def test_a_codec_that_rejects_frames_stops_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def rejecting(parts: Sequence[bytes], **kwargs: int) -> Frame:
        return decode([parts[0] + b"x", *parts[1:]], **kwargs)

    monkeypatch.setattr(runner, "decode", rejecting)
    with pytest.raises(CodecError, match="decode rejected"):
        simulate(PARAMS)


def test_the_trace_is_byte_identical_across_runs() -> None:
    first, second = simulate(PARAMS), simulate(PARAMS)
    dump = b"".join(orjson.dumps(e) + b"\n" for e in first.events)
    assert dump == b"".join(orjson.dumps(e) + b"\n" for e in second.events)
    assert orjson.dumps(first.summary) == orjson.dumps(second.summary)
    assert first.summary["frames"]["total"] > 100
