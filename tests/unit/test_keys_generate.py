"""``zmqcast keys generate`` and the key files it writes."""

from __future__ import annotations

import stat
from pathlib import Path

import orjson
import pytest
import zmq
import zmq.auth
from typer.testing import CliRunner

from zmqcast.cli import app
from zmqcast.config import load_config
from zmqcast.security.keys import KeyFileError, read_public_key, read_secret_key, write_keypair
from zmqcast.security.setup import admin_keys, node_keys


def _config(tmp_path: Path, count: int = 3) -> Path:
    nodes = [{"id": f"P{i + 1}", "host": "127.0.0.1", "port": 47100 + i} for i in range(count)]
    path = tmp_path / "cluster.json"
    path.write_bytes(orjson.dumps({"nodes": nodes}))
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generate_writes_a_keypair_per_node_and_an_admin_pair(tmp_path: Path) -> None:
    config = _config(tmp_path)
    result = CliRunner().invoke(
        app, ["keys", "generate", "--config", str(config), "--out", str(tmp_path / "keys")]
    )
    assert result.exit_code == 0, result.output
    for name, folder in [("P1", "nodes"), ("P2", "nodes"), ("P3", "nodes"), ("admin", "admins")]:
        public = tmp_path / "keys" / folder / f"{name}.key"
        secret = tmp_path / "keys" / folder / f"{name}.key_secret"
        assert _mode(secret) == 0o600 and _mode(public) == 0o644
        # pyzmq's own certificate reader takes both files.
        pub, none = zmq.auth.load_certificate(public)
        pub2, sec = zmq.auth.load_certificate(secret)
        assert none is None and pub == pub2 and sec is not None
        assert zmq.curve_public(sec) == pub
    keys = {read_public_key(tmp_path / "keys" / "nodes" / f"P{i}.key") for i in (1, 2, 3)}
    assert len(keys) == 3, "every node gets a keypair of its own"

    # The printed block, added to the config, makes a secure cluster whose
    # nodes and tools find their secret keys.
    block = orjson.loads(result.stdout)
    data = orjson.loads(config.read_bytes())
    data.update(block)
    config.write_bytes(orjson.dumps(data))
    cfg = load_config(config)
    assert cfg.security is not None and set(cfg.security.admins) == {"admin"}
    for node in ("P1", "P2", "P3"):
        mine = node_keys(cfg, node)
        assert mine is not None and mine.public == cfg.security.members[node]
    client = admin_keys(cfg, "P2")
    assert client is not None and client.server == cfg.security.members["P2"]


def test_generate_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    config = _config(tmp_path, 2)
    args = ["keys", "generate", "--config", str(config), "--out", str(tmp_path / "k")]
    runner = CliRunner()
    assert runner.invoke(app, args).exit_code == 0
    before = read_public_key(tmp_path / "k" / "nodes" / "P1.key")
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--out" in again.output and "exists already" in again.output
    assert "Traceback" not in again.output
    assert read_public_key(tmp_path / "k" / "nodes" / "P1.key") == before
    forced = runner.invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert read_public_key(tmp_path / "k" / "nodes" / "P1.key") != before


def test_generate_one_node_for_a_key_rotation(tmp_path: Path) -> None:
    config = _config(tmp_path, 3)
    result = CliRunner().invoke(
        app,
        ["keys", "generate", "--config", str(config), "--out", str(tmp_path / "k"), "--node", "P2"],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "k" / "nodes").iterdir()) == [
        "P2.key",
        "P2.key_secret",
    ]
    assert not (tmp_path / "k" / "admins").exists(), "no admin key unless --admin asks"


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--node", "P9"], "--node"),
        (["--admin", "~root"], "--admin"),
        (["--admin", ""], "--admin"),
    ],
)
def test_generate_bad_flags_are_one_line(tmp_path: Path, args: list[str], flag: str) -> None:
    config = _config(tmp_path, 2)
    result = CliRunner().invoke(
        app, ["keys", "generate", "--config", str(config), "--out", str(tmp_path / "k"), *args]
    )
    assert result.exit_code == 2
    assert f"error: {flag}:" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "k").exists()


def test_generate_ignores_a_security_block_whose_keys_do_not_exist_yet(tmp_path: Path) -> None:
    config = _config(tmp_path, 2)
    data = orjson.loads(config.read_bytes())
    data["security"] = {"public_keys": "keys/nodes"}
    config.write_bytes(orjson.dumps(data))
    result = CliRunner().invoke(
        app, ["keys", "generate", "--config", str(config), "--out", str(tmp_path / "keys")]
    )
    assert result.exit_code == 0, result.output
    assert load_config(config).security is not None


def test_a_secret_key_open_to_others_is_refused_in_one_line(tmp_path: Path) -> None:
    _public, secret = write_keypair(tmp_path, "P1")
    assert read_secret_key(secret)[0] == read_public_key(tmp_path / "P1.key")
    for mode in (0o644, 0o640, 0o604, 0o660):
        secret.chmod(mode)
        with pytest.raises(KeyFileError) as refused:
            read_secret_key(secret)
        message = str(refused.value)
        assert "\n" not in message and f"mode {mode:04o}" in message and "chmod 600" in message


def test_a_public_or_mismatched_file_is_no_secret_key(tmp_path: Path) -> None:
    public, secret = write_keypair(tmp_path, "P1")
    public.chmod(0o600)
    with pytest.raises(KeyFileError, match="no secret key"):
        read_secret_key(public)
    other_public, _other_secret = zmq.curve_keypair()
    text = secret.read_text()
    own_public = read_public_key(public).decode()
    secret.write_text(text.replace(own_public, other_public.decode()))
    with pytest.raises(KeyFileError, match="does not belong"):
        read_secret_key(secret)
    with pytest.raises(KeyFileError, match="cannot read"):
        read_secret_key(tmp_path / "missing.key_secret")


def test_node_takes_its_secret_key_from_a_flag_and_refuses_an_open_one(tmp_path: Path) -> None:
    config = _config(tmp_path, 2)
    result = CliRunner().invoke(
        app, ["keys", "generate", "--config", str(config), "--out", str(tmp_path / "keys")]
    )
    assert result.exit_code == 0, result.output
    data = orjson.loads(config.read_bytes())
    data.update(orjson.loads(result.stdout))
    del data["security"]["secret_key"]  # the flag must supply it
    config.write_bytes(orjson.dumps(data))
    secret = tmp_path / "keys" / "nodes" / "P1.key_secret"
    secret.chmod(0o644)
    refused = CliRunner().invoke(
        app,
        [
            "node",
            "--config",
            str(config),
            "--id",
            "P1",
            "--secret-key",
            str(secret),
            "--run-dir",
            str(tmp_path / "run"),
        ],
    )
    assert refused.exit_code == 2, refused.output
    lines = refused.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --secret-key: "), refused.output
    assert "open to others" in lines[0] and "Traceback" not in refused.output
