"""`zmqcast bank` over real node processes: every variant's snapshots pass the checks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from tests.integration.cluster import write_config, zmqcast_cmd
from zmqcast.cli import app

FAST = {"timeouts": {"rto": 0.05, "rto_max": 0.5, "heartbeat": 0.2, "suspect_after": 1.0}}


def _bank(config: Path, run_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        zmqcast_cmd(
            "bank",
            "--config",
            str(config),
            "--duration",
            "3",
            "--snapshot-every",
            "0.4",
            "--run-dir",
            str(run_dir),
            *extra,
        ),
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )


@pytest.mark.timeout(160)
@pytest.mark.parametrize(
    ("channel", "variant", "secure"),
    [("fifo", "all", False), ("unordered", "lai-yang", True), ("lossy", "sender-log", False)],
)
def test_bank_snapshots_pass_every_check(
    tmp_path: Path, channel: str, variant: str, secure: bool
) -> None:
    """The unordered run is secure: CurveZMQ on every link, with throwaway keys."""
    config = write_config(tmp_path / "c.json", 3, channel=channel, **FAST)
    run_dir = tmp_path / "run"
    extra = ["--secure"] if secure else []
    done = _bank(
        config,
        run_dir,
        *("--variant", variant, "--loss", "0.1", "--reorder", "0.2", "--seed", "2", *extra),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # A secure run's nodes read the user's config with the run's keys added.
    assert (run_dir / "config.json").is_file() is secure
    if secure:
        security = orjson.loads((run_dir / "config.json").read_bytes())["security"]
        assert Path(security["secret_key"].replace("{id}", "P1")).is_file()
    globals_ = sorted((run_dir / "snapshots").glob("*/global.json"))
    assert len(globals_) >= 4
    for path in globals_:
        snap = orjson.loads(path.read_bytes())
        assert set(snap["records"]) == {"P1", "P2", "P3"}
        assert snap["duration"] > 0
        for node in ("P1", "P2", "P3"):
            assert (path.parent / f"{node}.json").is_file()
    lines = [line for line in done.stdout.splitlines() if line.strip().endswith("  ok")]
    assert len(lines) == len(globals_)

    # The same verdicts again later, from the files alone.
    checked = CliRunner().invoke(app, ["check", str(run_dir)])
    assert checked.exit_code == 0, checked.output
    assert f"{len(globals_)} of {len(globals_)} passed" in checked.output


def test_a_tampered_record_fails_the_later_check(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", 3, **FAST)
    run_dir = tmp_path / "run"
    done = _bank(config, run_dir, "--variant", "chandy-lamport", "--rate", "100")
    assert done.returncode == 0, done.stdout + done.stderr
    path = sorted((run_dir / "snapshots").glob("*/global.json"))[0]
    snap = orjson.loads(path.read_bytes())
    snap["records"]["P2"]["state"]["balance"] += 1
    path.write_bytes(orjson.dumps(snap))
    checked = CliRunner().invoke(app, ["check", str(run_dir)])
    assert checked.exit_code == 1
    assert "VIOLATED" in checked.output


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--variant", "chandy-lamport"], "--variant"),  # on unordered channels
        (["--variant", "snapshotty"], "--variant"),
        (["--duration", "0"], "--duration"),
        (["--rate", "-1"], "--rate"),
        (["--snapshot-every", "-2"], "--snapshot-every"),
        (["--loss", "1.5"], "--loss"),
    ],
)
def test_bad_bank_flags_exit_2_naming_the_flag(tmp_path: Path, args: list[str], field: str) -> None:
    config = write_config(tmp_path / "c.json", 3, channel="unordered")
    result = CliRunner().invoke(app, ["bank", "--config", str(config), *args])
    assert result.exit_code == 2, result.output
    assert f"error: {field}" in result.output
