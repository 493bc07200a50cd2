"""Throwaway keys for one run: what ``--secure`` does for launch, bank, stress and bench.

A secure run needs a keypair per node and an admin keypair for the tool that
drives it. :func:`generate_run_keys` writes them under ``RUN_DIR/keys`` and
returns the run's config with a ``security`` block that names them by
absolute path, so the config works from any directory; the nodes then find
their secret keys through ``security.secret_key`` (no flag needed), and the
tool its admin key through ``security.admin_secret_key``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from zmqcast.config import NODE_ID_SLOT
from zmqcast.fsutil import write_atomic
from zmqcast.security.keys import SECRET_SUFFIX, write_keypair

RUN_ADMIN = "run"
"""The name of a run's admin key (its clients are known to nodes as ``~run``)."""
REMOTE_CONTROL = {"remote": True, "remote_fault_control": True}
"""The ``admin`` block of a stress run: the harness's requests come from its own
address, not loopback, when nodes run in network namespaces."""


@dataclass(frozen=True, slots=True)
class RunKeys:
    """Where a run's keys are."""

    directory: Path
    """``RUN_DIR/keys``: ``nodes/ID.key[_secret]`` and ``admins/NAME.key[_secret]``."""
    admin_secret_key: Path
    """The admin key the run's tools use."""

    def node_secret_key(self, node_id: str) -> Path:
        """Node ``node_id``'s secret key file."""
        return self.directory / "nodes" / f"{node_id}{SECRET_SUFFIX}"


def generate_run_keys(
    config: Mapping[str, Any], run_dir: Path, *, admin: str = RUN_ADMIN
) -> tuple[dict[str, Any], RunKeys]:
    """Keys for every node of ``config`` and one admin, and the config that uses them.

    ``config`` is a decoded config (a JSON object, already validated); the
    result is a copy with its ``security`` block replaced. Keys already in
    ``RUN_DIR/keys`` (a run directory used twice) are replaced.
    """
    keys_dir = (run_dir / "keys").resolve()
    nodes_dir, admins_dir = keys_dir / "nodes", keys_dir / "admins"
    for entry in config["nodes"]:
        write_keypair(nodes_dir, entry["id"], overwrite=True)
    _public, admin_secret = write_keypair(admins_dir, admin, overwrite=True)
    secured = copy.deepcopy(dict(config))
    secured["security"] = {
        "public_keys": str(nodes_dir),
        "admin_keys": str(admins_dir),
        "secret_key": str(nodes_dir / f"{NODE_ID_SLOT}{SECRET_SUFFIX}"),
        "admin_secret_key": str(admin_secret),
    }
    return secured, RunKeys(keys_dir, admin_secret)


def write_secure_config(config_path: Path, run_dir: Path) -> tuple[Path, RunKeys]:
    """:func:`generate_run_keys` for the config file at ``config_path``.

    Writes the secured config to ``RUN_DIR/config.json`` and returns that
    file's path, to hand to the nodes and tools instead of the user's config.
    """
    data = orjson.loads(config_path.read_bytes())
    secured, keys = generate_run_keys(data, run_dir)
    path = run_dir / "config.json"
    write_atomic(path, orjson.dumps(secured, option=orjson.OPT_INDENT_2))
    return path, keys


def enable_remote_control(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` whose ``admin`` block lets remote tools set faults and workload."""
    out = copy.deepcopy(dict(config))
    out["admin"] = {**out.get("admin", {}), **REMOTE_CONTROL}
    return out


__all__ = [
    "REMOTE_CONTROL",
    "RUN_ADMIN",
    "RunKeys",
    "enable_remote_control",
    "generate_run_keys",
    "write_secure_config",
]
