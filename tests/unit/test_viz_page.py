"""The diagram page: its markup, its window, and the command's one-line errors."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from zmqcast.cli import app
from zmqcast.core.config import Relay
from zmqcast.sim.runner import SimParams, simulate
from zmqcast.viz.model import MessageKind


class Elements(HTMLParser):
    """Every start tag of a page, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def with_class(self, name: str) -> list[dict[str, str]]:
        return [a for _, a in self.tags if name in a.get("class", "").split()]


def parse(html: str) -> Elements:
    page = Elements()
    page.feed(html)
    return page


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated 3-node run with multicasts, transfers and two snapshots, as a trace file.

    Flooding, so that relayed copies are drawn too (a mesh's relay trees have none).
    """
    result = simulate(
        SimParams(
            nodes=3,
            messages=6,
            workload="mixed",
            snapshots=2,
            loss=0.1,
            seed=3,
            relay=Relay.FLOOD,
        )
    )
    path = tmp_path_factory.mktemp("sim") / "trace.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in result.events))
    return path


def test_every_message_is_an_arrow_with_its_kind_ends_and_id(trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.html"
    done = CliRunner().invoke(app, ["diagram", str(trace), "-o", str(out)])
    assert done.exit_code == 0, done.output
    html = out.read_text()
    page = parse(html)
    arrows = page.with_class("msg")
    kinds = {a["data-kind"] for a in arrows}
    assert {"multicast", "relay", "app", "record"} <= kinds <= {k.value for k in MessageKind}
    assert all(a["data-src"] and a["data-dst"] and a["data-id"] for a in arrows)
    events = [orjson.loads(line) for line in trace.read_bytes().splitlines()]
    receipts = sum(e["kind"] in ("deliver", "duplicate") for e in events)
    assert sum(a["data-kind"] in ("multicast", "relay") for a in arrows) == receipts
    sids = {e["sid"] for e in events if e["kind"] == "snap_cut"}
    assert {c["data-sid"] for c in page.with_class("cut")} == sids
    flying = page.with_class("in-flight")
    assert flying, "the snapshots recorded no message in flight"
    assert all(set(a["data-in-flight"].split()) <= sids for a in flying)
    assert len(page.with_class("ev")) == len(events) - sum(e["node"] == "sim" for e in events)


def test_the_page_loads_nothing(trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.html"
    CliRunner().invoke(app, ["diagram", str(trace), "-o", str(out)])
    html = out.read_text()
    page = parse(html)
    assert not [t for t, a in page.tags if "src" in a or "href" in a]
    assert not [t for t, _ in page.tags if t in ("link", "iframe", "img", "object", "embed")]
    assert not re.search(r"@import|url\(\s*['\"]?(https?:|//)", html)
    assert not re.search(r"\b(fetch|XMLHttpRequest|importScripts)\b", html)


def test_a_large_run_is_windowed_and_says_so(trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.html"
    done = CliRunner().invoke(app, ["diagram", str(trace), "-o", str(out), "--max-events", "40"])
    assert done.exit_code == 0, done.output
    assert "windowed: 40 of" in done.output
    page = parse(out.read_text())
    assert len(page.with_class("ev")) == 40
    (note,) = page.with_class("window-note")
    assert note["id"] == "window-note"
    assert "Windowed: showing 40 of" in out.read_text()


def test_one_node_and_one_snapshot(trace: Path, tmp_path: Path) -> None:
    events = [orjson.loads(line) for line in trace.read_bytes().splitlines()]
    sid = next(e["sid"] for e in events if e["kind"] == "snap_cut")
    out = tmp_path / "d.html"
    done = CliRunner().invoke(
        app, ["diagram", str(trace), "-o", str(out), "--snapshot", sid, "--nodes", "P1,P2"]
    )
    assert done.exit_code == 0, done.output
    page = parse(out.read_text())
    assert {c["data-sid"] for c in page.with_class("cut")} == {sid}
    assert {lane["data-node"] for lane in page.with_class("lane")} == {"P1", "P2"}
    assert all({a["data-src"], a["data-dst"]} <= {"P1", "P2"} for a in page.with_class("msg"))


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--max-events", "0"], "--max-events"),
        (["--from", "-1"], "--from"),
        (["--from", "2", "--to", "1"], "--to"),
        (["--nodes", "P1,P9"], "--nodes"),
        (["--snapshot", "P7-1-1"], "--snapshot"),
        (["--from", "1000"], "--from"),
    ],
)
def test_a_bad_flag_is_one_line_naming_it(trace: Path, args: list[str], flag: str) -> None:
    done = CliRunner().invoke(app, ["diagram", str(trace), *args])
    assert done.exit_code == 2
    lines = [line for line in done.output.splitlines() if line.strip()]
    assert len(lines) == 1, done.output
    assert lines[0].startswith(f"error: {flag}:")


def test_a_missing_run_or_a_directory_as_output_is_one_line(trace: Path, tmp_path: Path) -> None:
    for args in (
        ["diagram", str(tmp_path / "nothing")],
        ["diagram", str(trace), "-o", str(tmp_path)],
        ["export", "shiviz", str(tmp_path / "nothing")],
        ["export", "shiviz", str(trace), "-o", str(tmp_path)],
    ):
        done = CliRunner().invoke(app, args)
        assert done.exit_code == 2, args
        lines = [line for line in done.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), done.output
        assert "Traceback" not in done.output
