"""`zmqcast --version` and `zmqcast config`: the shipped configs and new ones."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

import zmqcast
from zmqcast import configs
from zmqcast.cli import app
from zmqcast.config import load_config, parse_config
from zmqcast.topology import build

CHECKOUT_CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_version_prints_the_installed_version() -> None:
    code, output = _invoke("--version")
    assert code == 0
    assert output == f"zmqcast {version('zmqcast')}\n"
    assert zmqcast.__version__ == version("zmqcast")


def test_the_checkout_configs_are_the_shipped_configs_byte_for_byte() -> None:
    """zmqcast/configs/ is the source; configs/ must not drift from it."""
    checkout = sorted(p.stem for p in CHECKOUT_CONFIGS.glob("*.json"))
    assert checkout == configs.names() == ["local3", "lossy3", "ring5", "squares8"]
    for name in checkout:
        assert (CHECKOUT_CONFIGS / f"{name}.json").read_bytes() == configs.read(name), (
            f"configs/{name}.json differs from zmqcast/configs/{name}.json: copy one to the other"
        )


def test_config_show_prints_the_shipped_file(tmp_path: Path) -> None:
    code, output = _invoke("config", "show", "local3")
    assert code == 0
    assert output.encode() == configs.read("local3")
    saved = tmp_path / "local3.json"
    saved.write_text(output)
    cfg = load_config(saved)
    assert [(n.id, n.port) for n in cfg.nodes] == [("P1", 5001), ("P2", 5002), ("P3", 5003)]
    assert _invoke("config", "show", "local3.json") == (0, output)


def test_config_show_of_an_unknown_name_is_one_line() -> None:
    code, output = _invoke("config", "show", "local4")
    assert code == 2
    assert output.splitlines() == [
        "error: NAME: no shipped config 'local4'; shipped: local3, lossy3, ring5, squares8"
    ]


def test_config_list_describes_every_shipped_config() -> None:
    code, output = _invoke("config", "list")
    assert code == 0
    assert output.splitlines() == [
        "local3     3 nodes, mesh, fifo channels, 127.0.0.1:5001-5003",
        "lossy3     3 nodes, mesh, lossy channels, 127.0.0.1:5301-5303, injected faults",
        "ring5      5 nodes, ring, fifo channels, 127.0.0.1:5101-5105",
        "squares8   8 nodes, links listed, fifo channels, 127.0.0.1:5201-5208",
    ]


@pytest.mark.parametrize(
    ("nodes", "topology"), [(2, "mesh"), (5, "ring"), (4, "line"), (8, "squares"), (64, "mesh")]
)
def test_config_new_prints_a_config_the_loader_accepts(
    tmp_path: Path, nodes: int, topology: str
) -> None:
    code, output = _invoke(
        "config", "new", "--nodes", str(nodes), "--topology", topology,
        "--base-port", "6100", "--host", "10.0.0.7",
    )  # fmt: skip
    assert code == 0, output
    path = tmp_path / "new.json"
    path.write_text(output)
    cfg = load_config(path)
    ids = [f"P{i}" for i in range(1, nodes + 1)]
    assert [(n.id, n.host, n.port) for n in cfg.nodes] == [
        (node_id, "10.0.0.7", 6100 + i) for i, node_id in enumerate(ids)
    ]
    assert cfg.links == build(topology, ids)


def test_config_new_defaults_to_local_ports_from_5001() -> None:
    code, output = _invoke("config", "new", "--nodes", "3", "--topology", "mesh")
    assert code == 0
    cfg = parse_config(orjson.loads(output))
    assert [(n.host, n.port) for n in cfg.nodes] == [("127.0.0.1", p) for p in (5001, 5002, 5003)]


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["--nodes", "1", "--topology", "mesh"], "error: --nodes: must be in [2, 64], got 1"),
        (["--nodes", "65", "--topology", "mesh"], "error: --nodes: must be in [2, 64], got 65"),
        (
            ["--nodes", "3", "--topology", "star"],
            "error: --topology: must be one of mesh, ring, line, squares, got 'star'",
        ),
        (
            ["--nodes", "3", "--topology", "squares"],
            "error: --topology: squares: needs exactly 8 nodes",
        ),
        (
            ["--nodes", "3", "--topology", "ring", "--base-port", "65534"],
            "error: --base-port: ports 65534 to 65536 must lie in [1, 65535]",
        ),
        (
            ["--nodes", "3", "--topology", "ring", "--base-port", "0"],
            "error: --base-port: ports 0 to 2 must lie in [1, 65535]",
        ),
        (
            ["--nodes", "3", "--topology", "ring", "--host", "two words"],
            "error: --host: must be a host name or address, got 'two words'",
        ),
    ],
)
def test_config_new_with_a_bad_flag_is_one_line_and_exit_2(flags: list[str], line: str) -> None:
    code, output = _invoke("config", "new", *flags)
    assert code == 2
    assert output.splitlines() == [line]
