"""Config validation: every error names its field, and the shipped configs load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from zmqcast.config import ConfigError, load_config, parse_config
from zmqcast.core.config import ChannelMode, Relay

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _nodes(count: int) -> list[dict[str, Any]]:
    return [{"id": f"P{i}", "host": "127.0.0.1", "port": 6000 + i} for i in range(1, count + 1)]


def _error(data: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value


@pytest.mark.parametrize("name", ["local3.json", "ring5.json", "squares8.json", "lossy3.json"])
def test_shipped_configs_are_valid(name: str) -> None:
    cfg = load_config(CONFIGS / name)
    assert len(cfg.nodes) >= 3


def test_local3_is_the_seed_cluster() -> None:
    cfg = load_config(CONFIGS / "local3.json")
    assert [(n.id, n.host, n.port) for n in cfg.nodes] == [
        ("P1", "127.0.0.1", 5001),
        ("P2", "127.0.0.1", 5002),
        ("P3", "127.0.0.1", 5003),
    ]
    assert cfg.links == {"P1": ["P2", "P3"], "P2": ["P1", "P3"], "P3": ["P1", "P2"]}
    assert cfg.core.mode is ChannelMode.FIFO


def test_squares_has_one_bridge() -> None:
    cfg = load_config(CONFIGS / "squares8.json")
    left, right = set(cfg.ids[:4]), set(cfg.ids[4:])
    crossing = [(a, b) for a, outs in cfg.links.items() for b in outs if (a in left) != (b in left)]
    assert len(crossing) == 2  # one link, both directions
    assert all((b in right) or (a in right) for a, b in crossing)


def test_lossy_example_sets_loss_injection() -> None:
    cfg = load_config(CONFIGS / "lossy3.json")
    assert cfg.core.mode is ChannelMode.LOSSY
    assert cfg.faults.loss > 0


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.json")


def test_invalid_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"nodes": [')
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_config(bad)


def test_duplicate_node_id() -> None:
    nodes = _nodes(2)
    nodes[1]["id"] = "P1"
    err = _error({"nodes": nodes})
    assert err.field == "nodes[1].id"
    assert "duplicate" in err.message


def test_duplicate_address() -> None:
    nodes = _nodes(2)
    nodes[1]["port"] = nodes[0]["port"]
    err = _error({"nodes": nodes})
    assert err.field == "nodes[1].port"
    assert "already used by P1" in err.message


def test_link_to_unknown_node() -> None:
    err = _error({"nodes": _nodes(2), "links": {"P1": ["P2", "P9"], "P2": ["P1"]}})
    assert err.field == "links.P1"
    assert "P9" in err.message


def test_links_from_unknown_node() -> None:
    err = _error({"nodes": _nodes(2), "links": {"P7": ["P1"]}})
    assert err.field == "links.P7"


def test_not_strongly_connected() -> None:
    err = _error({"nodes": _nodes(3), "links": {"P1": ["P2"], "P2": ["P3"], "P3": []}})
    assert err.field == "links"
    assert "strongly connected" in err.message


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"window": 0}, "window"),
        ({"window": True}, "window"),
        ({"channel": "tcp"}, "channel"),
        ({"faults": {"loss": 1.0}}, "faults.loss"),
        ({"faults": {"dup": -0.1}}, "faults.dup"),
        ({"faults": {"reorder": 2}}, "faults.reorder"),
        ({"faults": {"links": {"P1>P9": {"loss": 0.1}}}}, "faults.links.P1>P9"),
        ({"faults": {"links": {"P1-P2": {"loss": 0.1}}}}, "faults.links.P1-P2"),
        ({"faults": {"links": {"P1>P2": {"loss": 1.5}}}}, "faults.links.P1>P2.loss"),
        ({"faults": {"links": {"P1>P2": {"lag": 0.1}}}}, "faults.links.P1>P2.lag"),
        ({"faults": {"links": []}}, "faults.links"),
        ({"timeouts": {"rto": "fast"}}, "timeouts.rto"),
        ({"timeouts": {"rto": 5.0, "rto_max": 1.0}}, "timeouts"),
        ({"timeouts": {"surprise": 1}}, "timeouts.surprise"),
        ({"max_frame_bytes": 10}, "max_frame_bytes"),
        ({"colour": "blue"}, "colour"),
        ({"trace": "none"}, "trace"),
        ({"relay": "gossip"}, "relay"),
        ({"relay": 1}, "relay"),
        ({"trace": True}, "trace"),
    ],
)
def test_values_out_of_range(patch: dict[str, Any], field: str) -> None:
    err = _error({"nodes": _nodes(3), **patch})
    assert err.field == field


@pytest.mark.parametrize(
    ("node", "field"),
    [
        ({"id": "", "host": "h", "port": 1}, "nodes[0].id"),
        ({"id": "P1", "host": "", "port": 1}, "nodes[0].host"),
        ({"id": "P1", "host": "h", "port": 70000}, "nodes[0].port"),
        ({"id": "P1", "host": "h", "port": "80"}, "nodes[0].port"),
        ("P1", "nodes[0]"),
    ],
)
def test_bad_node_entries(node: Any, field: str) -> None:
    assert _error({"nodes": [node]}).field == field


def test_error_message_is_one_line() -> None:
    err = _error(orjson.loads(b'{"nodes": [], "links": "mesh"}'))
    assert "\n" not in str(err)
    assert str(err).startswith("nodes: ")


def test_per_link_faults_override_the_defaults() -> None:
    cfg = parse_config(
        {"nodes": _nodes(3), "faults": {"loss": 0.1, "links": {"P1>P2": {"loss": 0.5, "dup": 0.2}}}}
    )
    assert cfg.faults.for_link("P1", "P2").loss == 0.5
    assert cfg.faults.for_link("P1", "P2").dup == 0.2
    # Links are directed: the way back keeps the defaults.
    assert cfg.faults.for_link("P2", "P1").loss == 0.1
    assert cfg.faults.for_link("P2", "P1").dup == 0.0


def test_trace_level_reaches_the_core() -> None:
    assert parse_config({"nodes": _nodes(3)}).core.trace_messages
    assert not parse_config({"nodes": _nodes(3), "trace": "lean"}).core.trace_messages
    assert parse_config({"nodes": _nodes(3), "trace": "full"}).core.trace_messages


def test_relay_mode_reaches_the_core() -> None:
    assert parse_config({"nodes": _nodes(3)}).core.relay is Relay.TREE
    assert parse_config({"nodes": _nodes(3), "relay": "flood"}).core.relay is Relay.FLOOD
