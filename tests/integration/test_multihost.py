"""Three hosts (network namespaces, each with an address of its own), run as README says.

"Running on several hosts": one config file on every host, each node started
with ``zmqcast node`` on its host with a run directory of its own, then every
host's ``events/`` collected into one run directory for ``zmqcast check``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from tests.integration.cluster import LineProcess, zmqcast_cmd
from zmqcast.runtime.spawn import spawn_node, stop
from zmqcast.stress.netns import NetnsLab, unavailable

WHY = unavailable()
pytestmark = pytest.mark.skipif(WHY is not None, reason=f"namespaces unavailable: {WHY}")
HOSTS = ("P1", "P2", "P3")


@pytest.mark.timeout(120)
def test_three_hosts_one_config_logs_collected_and_checked(tmp_path: Path) -> None:
    lab = NetnsLab(list(HOSTS))
    addresses = lab.setup()
    nodes: dict[str, LineProcess] = {}
    try:
        config = tmp_path / "cluster.json"
        entries = [{"id": n, "host": addresses[n], "port": 5001} for n in HOSTS]
        entries[2]["bind"] = "0.0.0.0"  # P3 listens everywhere; peers use its address
        config.write_bytes(orjson.dumps({"nodes": entries}))
        for n in HOSTS:
            # A run directory per host, as on separate machines.
            proc = spawn_node(
                config,
                n,
                tmp_path / n / "run",
                stdin=subprocess.PIPE,
                own_session=False,
                wrapper=lab.wrap(n, []),
            )
            nodes[n] = LineProcess(proc, n)
        for n, node in nodes.items():
            node.type(f"hello from {n}")
        for n, node in nodes.items():
            others = [f"Delivered: hello from {o} | from={o}" for o in HOSTS if o != n]
            node.wait_for_all(others, 60)
        # End of input: each node finishes once what it sent is released.
        for node in nodes.values():
            assert node.proc.stdin is not None
            node.proc.stdin.close()
        codes = {n: node.proc.wait(timeout=60) for n, node in nodes.items()}
        assert codes == dict.fromkeys(HOSTS, 0)
    finally:
        for node in nodes.values():
            stop(node.proc, 5.0)
        lab.teardown()

    # Collect: README's `rsync HOST:RUN_DIR/events/ RUN_DIR/events/`, here a copy.
    run_dir = tmp_path / "collected"
    (run_dir / "events").mkdir(parents=True)
    for n in HOSTS:
        shutil.copy(tmp_path / n / "run" / "events" / f"{n}.jsonl", run_dir / "events")
    checked = subprocess.run(
        zmqcast_cmd("check", str(run_dir)), capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "validity          held (6 pairs checked)" in checked.stdout, checked.stdout
    starts = [
        orjson.loads(line)
        for n in HOSTS
        for line in (run_dir / "events" / f"{n}.jsonl").read_bytes().splitlines()
    ]
    assert {e["node"] for e in starts if e["kind"] == "start"} == set(HOSTS)
