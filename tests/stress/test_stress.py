"""`zmqcast stress` on real processes: every invariant holds under the nemesis, and
the harness reports a violation when repair is switched off."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import orjson
import pytest

from tests.integration.cluster import write_config, zmqcast_cmd

FAST = {"timeouts": {"rto": 0.05, "rto_max": 0.5, "heartbeat": 0.2, "suspect_after": 1.0}}


def _stress(
    config: Path, run_dir: Path, *args: str, timeout: float = 170
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        zmqcast_cmd("stress", "--config", str(config), "--run-dir", str(run_dir), *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


VERDICT = re.compile(r"^  (\S.*?)\s+(held|VIOLATED|not checked)\b(?: \((?:[\d,]+ of )?([\d,]+))?")


def _report(stdout: str) -> dict[str, str]:
    """Invariant name -> ``held``, ``VIOLATED`` or ``not checked``, from the report's lines."""
    return {m[1]: m[2] for line in stdout.splitlines() if (m := VERDICT.match(line))}


def _checked(stdout: str) -> dict[str, int]:
    """Invariant name -> how many pairs, events or nodes it checked, from the report."""
    return {
        m[1]: int((m[3] or "0").replace(",", ""))
        for line in stdout.splitlines()
        if (m := VERDICT.match(line))
    }


NEMESIS = (
    *("--loss", "0.2", "--dup", "0.05", "--reorder", "0.2"),
    *("--kill-every", "4", "--partition-every", "5", "--seed", "3"),
)
MODERATE = ("--chat-rate", "10", "--rate", "20")
"""The nemesis runs at a moderate rate: at the default load (100 a second per
node) a kill or a partition stalls every origin window for seconds, and the
loaded run below has a test of its own."""


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("nodes", "links", "secure"), [(3, "mesh", True), (8, "squares", False)]
)
def test_a_cluster_under_the_nemesis_keeps_every_invariant(
    tmp_path: Path, nodes: int, links: str, secure: bool
) -> None:
    """The 3-node run is secure (CurveZMQ on every link, throwaway keys), the 8-node plain."""
    config = write_config(tmp_path / "c.json", nodes, links=links, **FAST)
    run_dir = tmp_path / "run"
    extra = ("--secure",) if secure else ()
    done = _stress(config, run_dir, "--duration", "12", *NEMESIS, *MODERATE, *extra)
    assert done.returncode == 0, done.stdout + done.stderr
    security = orjson.loads((run_dir / "config.json").read_bytes()).get("security")
    assert (security is not None) is secure
    if secure:
        assert Path(security["admin_secret_key"]).is_file()
        assert "secure (CurveZMQ" in done.stdout.splitlines()[0]
    assert "all invariants held" in done.stdout
    report, checked = _report(done.stdout), _checked(done.stdout)
    for name in ("validity", "agreement", "restart-validity", "integrity", "fifo", "lamport"):
        assert report[name] == "held", done.stdout
        assert checked[name] > 0, done.stdout
    for name in ("cut", "channels", "states", "conservation"):
        assert report.get(f"snapshot {name}") == "held", done.stdout
    assert report["quiescence"] == "held"
    network = next(ln for ln in done.stdout.splitlines() if ln.strip().startswith("network"))
    assert "namespace" in network or "loopback" in network

    # The faults really happened: kills, partitions and injected frame faults.
    nemesis = [orjson.loads(line) for line in (run_dir / "nemesis.jsonl").read_bytes().splitlines()]
    actions = [r["action"] for r in nemesis]
    assert actions.count("kill") >= 2 and actions.count("partition") >= 2
    assert "settled" in actions
    faults = next(ln for ln in done.stdout.splitlines() if ln.strip().startswith("faults"))
    for kind in ("drop", "dup", "reorder", "block", "kill", "partition"):
        assert f"{kind} " in faults, faults
    complete = list((run_dir / "snapshots").glob("*/global.json"))
    assert complete, "no snapshot completed under the nemesis"
    # `zmqcast check` on the same run agrees with the harness, aborted snapshots included.
    checked_later = subprocess.run(
        zmqcast_cmd("check", str(run_dir)), capture_output=True, text=True, check=False
    )
    assert checked_later.returncode == 0, checked_later.stdout + checked_later.stderr
    assert "VIOLATED" not in checked_later.stdout


@pytest.mark.timeout(180)
def test_a_loaded_ring_under_kills_checks_validity_on_the_spared_nodes(tmp_path: Path) -> None:
    """ring5's shape at load: 100 chat multicasts and 100 transfers a second per
    node, 10% loss, a kill every 3 s. The spared nodes keep validity, agreement
    and restart-validity checkable, so each must check something and hold."""
    config = write_config(tmp_path / "c.json", 5, links="ring", channel="fifo", **FAST)
    run_dir = tmp_path / "run"
    args = ("--duration", "12", "--loss", "0.1", "--chat-rate", "100", "--rate", "100")
    done = _stress(config, run_dir, *args, "--kill-every", "3", "--seed", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all invariants held" in done.stdout
    report, checked = _report(done.stdout), _checked(done.stdout)
    for name in ("validity", "agreement", "restart-validity"):
        assert report[name] == "held", done.stdout
        assert checked[name] > 0, done.stdout
    # Load: more multicasts than the old default rate (10/s per node) could make.
    traffic = next(ln for ln in done.stdout.splitlines() if ln.strip().startswith("traffic"))
    multicasts = int(traffic.split()[1])
    assert multicasts > 5 * 10 * 12, traffic
    # The nemesis killed, but never the nodes it names as spared (2 of 5).
    nemesis = [orjson.loads(line) for line in (run_dir / "nemesis.jsonl").read_bytes().splitlines()]
    spared = nemesis[0]["spared"]
    assert len(spared) == 2
    killed = {r["node"] for r in nemesis[1:] if r["action"] == "kill"}
    assert killed and not killed & set(spared)
    assert f"never killed: {', '.join(spared)}" in done.stdout
    # A run extended for a slow restart waited until every restarted node had
    # been connected for its afterlife (none left short).
    extension = [r for r in nemesis if r["action"] in ("extend", "extended")]
    if extension:
        assert [r["action"] for r in extension] == ["extend", "extended"], extension
        assert extension[1]["short"] == [], extension


@pytest.mark.timeout(120)
def test_without_repair_the_harness_reports_the_losses_and_fails(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3, **FAST)
    done = _stress(
        config,
        tmp_path / "run",
        "--duration",
        "5",
        "--loss",
        "0.2",
        "--seed",
        "3",
        "--no-repair",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    report = _report(done.stdout)
    assert report["validity"] == "VIOLATED"
    assert "INVARIANTS VIOLATED" in done.stdout
    replay = next(ln for ln in done.stdout.splitlines() if ln.startswith("replay the schedule"))
    assert "--no-repair" in replay and "--seed 3" in replay


@pytest.mark.timeout(120)
def test_a_run_that_could_not_check_validity_fails_and_says_why(tmp_path: Path) -> None:
    """Two nodes under kills: one is spared, the other restarted, so no pair of
    correct nodes is left for validity. The run was meant to test it: exit 1."""
    config = write_config(tmp_path / "c.json", 2, **FAST)
    args = ("--duration", "5", "--kill-every", "1", "--snapshot-every", "0", *MODERATE)
    done = _stress(config, tmp_path / "run", *args, "--seed", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    report = _report(done.stdout)
    assert report["validity"] == "not checked", done.stdout
    assert "VIOLATED" not in report.values(), done.stdout
    verdict = next(ln for ln in done.stdout.splitlines() if ln.startswith("NOT CHECKED: "))
    assert "validity (0 pairs: only P" in verdict
    assert verdict.endswith("the run was meant to exercise them")


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_half_an_hour_on_eight_nodes(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 8, links="squares", **FAST)
    done = _stress(config, tmp_path / "run", "--duration", "1800", *NEMESIS, timeout=3500)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
