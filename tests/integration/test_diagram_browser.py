"""Diagrams of real runs, rendered by headless Chromium and checked in the DOM it built.

Chromium is Debian's ``chromium`` package (``.ci/run`` installs it when it is
missing). Without it these tests fail, so that CI cannot pass them by
skipping; set ``ZMQCAST_NO_BROWSER=1`` to skip them on purpose.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from tests.integration.cluster import launch_auto, write_config, zmqcast_cmd
from tests.unit.test_viz_page import Elements, parse
from tests.unit.test_viz_shiviz import check_shiviz
from zmqcast.check.logs import read_events
from zmqcast.cli import app

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
OPT_OUT = "ZMQCAST_NO_BROWSER"
FAST = {"timeouts": {"rto": 0.05, "rto_max": 0.5, "heartbeat": 0.2, "suspect_after": 1.0}}
RECEIPTS = ("deliver", "held", "late", "duplicate")


HOVER_PROBE = """<script>
(function () {
  var tips = [];
  [".msg", ".ev"].forEach(function (selector) {
    var el = document.querySelector(selector), box = el.getBoundingClientRect();
    el.dispatchEvent(new MouseEvent("mousemove", {bubbles: true, clientX: box.x + 1,
                                                  clientY: box.y + 1}));
    tips.push(document.getElementById("tip").textContent);
  });
  document.body.dataset.tips = tips.join("\\n=====\\n");
})();
</script></body>"""
"""Appended to a copy of a page: hovers over the first arrow and the first event."""


def browser() -> str:
    """The headless browser's path; the test fails without one unless opted out."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get(OPT_OUT) == "1":
        pytest.skip(f"no Chromium, and {OPT_OUT}=1 says to skip")
    pytest.fail(
        "headless Chromium is needed to render diagrams: install Debian's chromium "
        f"(.ci/run does), or set {OPT_OUT}=1 to skip these tests"
    )


def chromium(page: Path, *args: str, fragment: str = "") -> str:
    """Run headless Chromium on ``page`` with ``args``; its stdout."""
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        done = subprocess.run(
            [
                browser(),
                "--headless",
                "--disable-gpu",
                "--no-sandbox",
                "--no-first-run",
                f"--user-data-dir={profile}",
                # Nothing may come from the network: any request would go nowhere.
                "--proxy-server=127.0.0.1:9",
                *args,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def rendered(page: Path, fragment: str = "") -> Elements:
    """The DOM after the page's script ran."""
    dom = parse(chromium(page, "--dump-dom", fragment=fragment))
    (body,) = [a for t, a in dom.tags if t == "body"]
    assert body.get("data-ready") == "1", "the page's script did not finish"
    return dom


def screenshot(page: Path) -> Path:
    """A PNG of the page, kept beside it in the test's temporary directory."""
    shot = page.with_suffix(".png")
    chromium(page, f"--screenshot={shot}", "--window-size=1400,1000")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000  # a picture, not a blank page
    return shot


def diagram(run_dir: Path, out: Path, *args: str) -> None:
    done = CliRunner().invoke(app, ["diagram", str(run_dir), "-o", str(out), *args])
    assert done.exit_code == 0, done.output


@pytest.mark.timeout(150)
def test_the_seed_demo_shows_three_lanes_and_every_send_and_delivery(tmp_path: Path) -> None:
    browser()
    config = write_config(tmp_path / "local3.json", 3, **FAST)
    run_dir = tmp_path / "run"
    done = launch_auto(config, run_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    page = tmp_path / "demo.html"
    diagram(run_dir, page)
    dom = rendered(page)

    lanes = dom.with_class("lane")
    assert sorted(lane["data-node"] for lane in lanes) == ["P1", "P2", "P3"]
    arrows = dom.with_class("msg")
    copies = [a for a in arrows if a["data-kind"] in ("multicast", "relay")]
    events = read_events(run_dir)
    sent = {
        (e["origin"], f"{e['origin']}:{e['oepoch']}:{e['oseq']}")
        for e in events
        if e["kind"] == "multicast"
    }
    delivered = {
        (e["node"], f"{e['origin']}:{e['oepoch']}:{e['oseq']}")
        for e in events
        if e["kind"] == "deliver"
    }
    assert len(sent) == 3 and len(delivered) == 6
    # Every multicast leaves its origin as an arrow, every delivery ends one.
    assert sent <= {(a["data-src"], a["data-id"]) for a in copies if a["data-kind"] == "multicast"}
    assert delivered <= {(a["data-dst"], a["data-id"]) for a in copies}
    assert len(copies) == sum(e["kind"] in RECEIPTS for e in events)
    screenshot(page)

    # The same run in time order, hovering over the first arrow and the first event:
    # the switch moved the events, and the details show ids and vector clocks.
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", HOVER_PROBE))
    timed = rendered(probe, "mode=time")
    causal_y = {e["data-e"]: e["cy"] for e in dom.with_class("ev")}
    timed_y = {e["data-e"]: e["cy"] for e in timed.with_class("ev")}
    assert causal_y.keys() == timed_y.keys()
    assert causal_y != timed_y
    (body,) = [a for t, a in timed.tags if t == "body"]
    tips = body["data-tips"].split("\n=====\n")
    first = arrows[0]
    assert tips[0].startswith(f"{first['data-kind']}  {first['data-src']} -> {first['data-dst']}")
    assert f"id: {first['data-id']}" in tips[0] and "vc {" in tips[0]
    assert "lamport: " in tips[1] and "vector clock: {" in tips[1]

    # Its ShiViz export keeps ShiViz's rules.
    log = tmp_path / "run.log"
    exported = CliRunner().invoke(app, ["export", "shiviz", str(run_dir), "-o", str(log)])
    assert exported.exit_code == 0, exported.output
    assert sorted(check_shiviz(log.read_text())) == ["P1", "P2", "P3"]


@pytest.mark.timeout(150)
def test_a_bank_run_draws_each_cut_with_exactly_its_recorded_channel_state(
    tmp_path: Path,
) -> None:
    browser()
    # Half the frames are held up to 50 ms, so transfers cross every cut in
    # flight whatever the machine's speed: with loss alone, a fast machine
    # can take all three snapshots with empty channels. Each node's clock
    # starts when its own channels connect (here up to half a second apart),
    # so the last snapshot (at 1.5 s) stays half a second clear of the end,
    # while the others still transfer.
    delayed = {"delay": 0.5, "max_delay": 0.05}
    config = write_config(tmp_path / "c.json", 3, faults=delayed, **FAST)
    run_dir = tmp_path / "run"
    done = subprocess.run(
        zmqcast_cmd(
            "bank",
            "--config",
            str(config),
            "--duration",
            "2.0",
            "--snapshot-every",
            "0.5",
            "--rate",
            "200",
            "--loss",
            "0.2",
            "--variant",
            "all",
            "--seed",
            "2",
            "--run-dir",
            str(run_dir),
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    recorded: dict[str, set[tuple[str, str, str]]] = {}
    variants: dict[str, str] = {}
    for path in sorted((run_dir / "snapshots").glob("*/global.json")):
        snap = orjson.loads(path.read_bytes())
        variants[snap["sid"]] = snap["variant"]
        recorded[snap["sid"]] = {
            (m["src"], m["dst"], f"{m['src']}#{m['sinc']}>{m['dst']}:{m['n']}")
            for rec in snap["records"].values()
            for msgs in rec["channels"].values()
            for m in msgs
        }
    assert len(recorded) == 3
    assert set(variants.values()) == {"chandy-lamport", "lai-yang", "sender-log"}
    assert any(recorded.values()), "no snapshot recorded a message in flight"

    page = tmp_path / "bank.html"
    diagram(run_dir, page)
    dom = rendered(page)
    assert {c["data-sid"] for c in dom.with_class("cut")} == set(recorded)
    flying = dom.with_class("in-flight")
    for sid, messages in recorded.items():
        drawn = {
            (a["data-src"], a["data-dst"], a["data-id"])
            for a in flying
            if sid in a["data-in-flight"].split()
        }
        assert drawn == messages, sid
    assert all(a["data-kind"] == "app" for a in flying)
    assert not dom.with_class("orphan")
    screenshot(page)

    # One snapshot chosen: the others' arrows lose their highlight; Lai-Yang
    # colours the events of its cut red and white.
    ly = next(sid for sid, v in variants.items() if v == "lai-yang")
    chosen = rendered(page, f"snapshot={ly}")
    for a in chosen.with_class("in-flight"):
        dimmed = "hl-off" in a["class"].split()
        assert dimmed == (ly not in a["data-in-flight"].split())
    red, white = chosen.with_class("ly-red"), chosen.with_class("ly-white")
    assert red and white
    cuts = [
        e for e in chosen.with_class("ev") if e.get("data-sid") == ly and "k-snap_cut" in e["class"]
    ]
    assert len(cuts) == 3
    assert all(e in red for e in cuts)  # a node is red from its cut on
