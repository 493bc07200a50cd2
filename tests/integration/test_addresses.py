"""Node addresses: IPv6 literals, and a bind address apart from the advertised host."""

from __future__ import annotations

import pytest

import zmqcast
from zmqcast.runtime.spawn import free_ports


@pytest.mark.timeout(60)
def test_a_cluster_on_ipv6_loopback_delivers() -> None:
    a, b = free_ports(2)
    config = zmqcast.load_config(
        {"nodes": [{"id": "A", "host": "::1", "port": a}, {"id": "B", "host": "::1", "port": b}]}
    )
    assert config.node("A").endpoint == f"tcp://[::1]:{a}"
    with zmqcast.Node(config, "A") as na, zmqcast.Node(config, "B") as nb:
        na.multicast(b"over IPv6")
        got = nb.receive(timeout=20)
        assert (got.origin, got.payload) == ("A", b"over IPv6")
        nb.multicast(b"and back")
        assert na.receive(timeout=20).payload == b"and back"


@pytest.mark.timeout(60)
def test_a_node_listens_on_its_bind_address_and_peers_connect_to_its_host() -> None:
    a, b = free_ports(2)
    config = zmqcast.load_config(
        {
            "nodes": [
                {"id": "A", "host": "127.0.0.1", "port": a},
                # Listens on every local address; peers reach it at 127.0.0.1.
                {"id": "B", "host": "127.0.0.1", "bind": "0.0.0.0", "port": b},
            ]
        }
    )
    assert config.node("B").bind_endpoint == f"tcp://0.0.0.0:{b}"
    assert config.node("B").endpoint == f"tcp://127.0.0.1:{b}"
    with zmqcast.Node(config, "A") as na, zmqcast.Node(config, "B") as nb:
        nb.multicast(b"from B")
        na.multicast(b"from A")
        assert na.receive(timeout=20).payload == b"from B"
        assert nb.receive(timeout=20).payload == b"from A"


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        ({"host": "[::1]"}, "nodes[0].host", "write it without brackets"),
        ({"host": "fe80::1%eth0"}, "nodes[0].host", "zone ids are not supported"),
        ({"host": "127.0.0.1", "bind": ""}, "nodes[0].bind", "must be an address"),
        ({"host": "127.0.0.1", "bind": "::g"}, "nodes[0].bind", "not an IPv6 address"),
    ],
)
def test_bad_addresses_are_refused_naming_the_field(
    entry: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(zmqcast.ConfigError) as bad:
        zmqcast.load_config({"nodes": [{"id": "A", "port": 47001, **entry}]})
    assert bad.value.field == field and message in bad.value.message
