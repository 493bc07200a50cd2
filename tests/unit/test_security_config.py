"""The config's ``security`` and ``admin`` blocks, a node's keys, and a run's throwaway keys."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest
import zmq

from zmqcast.config import AdminPolicy, ConfigError, load_config, parse_config
from zmqcast.security.keys import write_keypair
from zmqcast.security.run import enable_remote_control, generate_run_keys
from zmqcast.security.setup import admin_keys, node_keys, users_of, with_secret_key


def _nodes(n: int) -> list[dict[str, Any]]:
    return [{"id": f"P{i + 1}", "host": "127.0.0.1", "port": 47200 + i} for i in range(n)]


def _inline(n: int) -> dict[str, str]:
    return {f"P{i + 1}": zmq.curve_keypair()[0].decode() for i in range(n)}


def test_plain_configs_have_no_security_and_a_loopback_admin_policy() -> None:
    cfg = parse_config({"nodes": _nodes(2)})
    assert cfg.security is None and cfg.admin == AdminPolicy(False, False)
    assert node_keys(cfg, "P1") is None and admin_keys(cfg, "P1") is None
    policy = parse_config({"nodes": _nodes(2), "admin": {"remote_fault_control": True}}).admin
    assert policy == AdminPolicy(remote=False, remote_fault_control=True)


def test_inline_keys_map_every_key_to_its_name() -> None:
    keys = _inline(3)
    admin = zmq.curve_keypair()[0].decode()
    cfg = parse_config(
        {"nodes": _nodes(3), "security": {"public_keys": keys, "admin_keys": {"ops": admin}}}
    )
    assert cfg.security is not None
    assert {n: k.decode() for n, k in cfg.security.members.items()} == keys
    users = users_of(cfg.security)
    assert users[keys["P2"].encode()] == "P2" and users[admin.encode()] == "~ops"
    # The block written out again (inline keys, absolute paths) means the same.
    again = parse_config({"nodes": _nodes(3), "security": cfg.security.to_json()})
    assert again.security == cfg.security


@pytest.mark.parametrize(
    ("security", "field"),
    [
        ([], "security"),
        ({}, "security.public_keys"),
        ({"public_keys": 5}, "security.public_keys"),
        ({"public_keys": "/nonexistent/keys"}, "security.public_keys"),
        ({"public_keys": {"P1": "short"}}, "security.public_keys.P1"),
        ({"public_keys": "SAME"}, "security.public_keys.P2"),
        ({"public_keys": "MISSING"}, "security.public_keys.P2"),
        ({"public_keys": "UNKNOWN"}, "security.public_keys.P9"),
        ({"public_keys": "OK", "admin_keys": {"~root": "KEY"}}, "security.admin_keys.~root"),
        ({"public_keys": "OK", "admin_keys": {"ops": "P1KEY"}}, "security.admin_keys.ops"),
        ({"public_keys": "OK", "secret_key": 7}, "security.secret_key"),
        ({"public_keys": "OK", "admin_secret_key": ""}, "security.admin_secret_key"),
        ({"public_keys": "OK", "keys": "x"}, "security.keys"),
    ],
)
def test_bad_security_blocks_name_the_field(security: Any, field: str) -> None:
    keys = _inline(2)
    spare = zmq.curve_keypair()[0].decode()
    fill = {
        "OK": keys,
        "SAME": {"P1": keys["P1"], "P2": keys["P1"]},
        "MISSING": {"P1": keys["P1"]},
        "UNKNOWN": {**keys, "P9": spare},
        "KEY": spare,
        "P1KEY": keys["P1"],
    }

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return fill.get(value, value) if isinstance(value, str) else value

    with pytest.raises(ConfigError) as bad:
        parse_config({"nodes": _nodes(2), "security": resolve(security)})
    assert bad.value.field == field, str(bad.value)


@pytest.mark.parametrize(
    ("admin", "field"),
    [
        ("yes", "admin"),
        ({"remote": 1}, "admin.remote"),
        ({"remote_fault_control": "true"}, "admin.remote_fault_control"),
        ({"faults": True}, "admin.faults"),
    ],
)
def test_bad_admin_blocks_name_the_field(admin: Any, field: str) -> None:
    with pytest.raises(ConfigError) as bad:
        parse_config({"nodes": _nodes(2), "admin": admin})
    assert bad.value.field == field


def test_key_directories_are_read_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for node in ("P1", "P2"):
        write_keypair(tmp_path / "keys" / "nodes", node)
    write_keypair(tmp_path / "keys" / "admins", "ops")
    config = tmp_path / "c.json"
    security = {
        "public_keys": "keys/nodes",
        "admin_keys": "keys/admins",
        "secret_key": "keys/nodes/{id}.key_secret",
        "admin_secret_key": "keys/admins/ops.key_secret",
    }
    config.write_bytes(orjson.dumps({"nodes": _nodes(2), "security": security}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(Path(os.path.relpath(config, elsewhere)))
    assert cfg.security is not None and set(cfg.security.admins) == {"ops"}
    p2 = node_keys(cfg, "P2")
    assert p2 is not None and p2.public == cfg.security.members["P2"]
    assert dict(p2.servers) == {"P1": cfg.security.members["P1"]}
    assert p2.secret.decode() not in repr(p2), "a secret key never shows in a repr"
    client = admin_keys(cfg, "P1")
    assert client is not None and client.public == cfg.security.admins["ops"]


def test_a_node_refuses_a_secret_key_that_is_not_its_own(tmp_path: Path) -> None:
    for node in ("P1", "P2"):
        write_keypair(tmp_path / "nodes", node)
    base = {"nodes": _nodes(2), "security": {"public_keys": str(tmp_path / "nodes")}}
    cfg = parse_config(base)
    with pytest.raises(ConfigError) as unset:
        node_keys(cfg, "P1")
    assert unset.value.field == "security.secret_key" and "--secret-key" in unset.value.message
    wrong = with_secret_key(cfg, tmp_path / "nodes" / "P2.key_secret")
    with pytest.raises(ConfigError) as other:
        node_keys(wrong, "P1")
    assert other.value.field == "--secret-key" and "not P1's key" in other.value.message
    flagged = with_secret_key(cfg, tmp_path / "nodes" / "{id}.key_secret")
    assert node_keys(flagged, "P1") is not None
    (tmp_path / "nodes" / "P1.key_secret").chmod(0o644)
    with pytest.raises(ConfigError) as open_key:
        node_keys(flagged, "P1")
    assert open_key.value.field == "--secret-key" and "chmod 600" in open_key.value.message
    with pytest.raises(ConfigError) as no_admin:
        admin_keys(cfg, "P1")
    assert no_admin.value.field == "security.admin_secret_key"
    with pytest.raises(ConfigError) as member_as_admin:
        admin_keys(cfg, "P1", tmp_path / "nodes" / "P2.key_secret")
    assert member_as_admin.value.field == "--admin-key"


def test_run_keys_make_a_secure_config_that_works_from_anywhere(tmp_path: Path) -> None:
    data = {"nodes": _nodes(3), "links": "ring", "admin": {"remote": True}}
    secured, keys = generate_run_keys(data, tmp_path / "run")
    assert "security" not in data, "the caller's config is left as it was"
    path = tmp_path / "run" / "config.json"
    path.write_bytes(orjson.dumps(secured))
    cfg = load_config(path)
    assert cfg.security is not None and cfg.admin.remote
    for node in ("P1", "P2", "P3"):
        mine = node_keys(cfg, node)
        assert mine is not None and keys.node_secret_key(node).exists()
    assert admin_keys(cfg, "P3") is not None and keys.admin_secret_key.stat().st_mode & 0o077 == 0
    assert all(Path(v).is_absolute() for k, v in secured["security"].items())
    stress = enable_remote_control(secured)
    assert parse_config(stress).admin == AdminPolicy(remote=True, remote_fault_control=True)
