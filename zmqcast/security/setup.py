"""A node's keys and an admin tool's keys, taken from a config and key files.

Public keys come with the config (:class:`~zmqcast.config.SecurityConfig`);
secret keys are read here, when a node or a tool starts, from the path a flag
gives or else the config's ``secret_key`` / ``admin_secret_key``. Every
problem is a :class:`~zmqcast.config.ConfigError` naming the flag or field,
so a command can print one line and exit 2.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from zmqcast.config import ClusterConfig, ConfigError, SecurityConfig
from zmqcast.security.auth import ADMIN_USER_PREFIX, ClientKeys, NodeKeys
from zmqcast.security.keys import KeyFileError, read_secret_key

SECRET_KEY_FLAG = "--secret-key"
ADMIN_KEY_FLAG = "--admin-key"


def node_keys(cfg: ClusterConfig, node_id: str, secret_key: Path | None = None) -> NodeKeys | None:
    """Node ``node_id``'s CURVE keys for its transport; None in plain mode.

    ``secret_key`` (a ``--secret-key`` flag) overrides the config's
    ``security.secret_key``. The secret must belong to the public key the
    config names for this node, and its file must be readable by its owner
    alone.
    """
    sec = cfg.security
    if sec is None:
        return None
    field = SECRET_KEY_FLAG if secret_key is not None else sec.secret_key_field
    path = secret_key if secret_key is not None else sec.secret_key_path(node_id)
    if path is None:
        raise ConfigError(
            "security.secret_key",
            f"not set, and no {SECRET_KEY_FLAG} given: node {node_id} needs its secret key file",
        )
    public, secret = _read(path, field)
    if public != sec.members[node_id]:
        raise ConfigError(
            field, f"{path} is not {node_id}'s key: the config names another public key for it"
        )
    return NodeKeys(
        public=public,
        secret=secret,
        servers={peer: sec.members[peer] for peer in cfg.links[node_id]},
        users=users_of(sec),
    )


def with_secret_key(cfg: ClusterConfig, secret_key: Path) -> ClusterConfig:
    """``cfg`` with its nodes reading their secret key from ``secret_key`` (a flag's path).

    The path may hold ``{id}`` for the node's id. Plain configs come back as
    they are: a secret key means nothing without ``security``.
    """
    if cfg.security is None:
        return cfg
    security = dataclasses.replace(
        cfg.security, secret_key=str(secret_key), secret_key_field=SECRET_KEY_FLAG
    )
    return dataclasses.replace(cfg, security=security)


def users_of(sec: SecurityConfig) -> dict[bytes, str]:
    """Every admitted public key -> the name its connections act as."""
    users = {key: node_id for node_id, key in sec.members.items()}
    users.update({key: f"{ADMIN_USER_PREFIX}{name}" for name, key in sec.admins.items()})
    return users


def admin_keys(
    cfg: ClusterConfig, node_id: str, secret_key: Path | None = None
) -> ClientKeys | None:
    """An admin tool's CURVE keys for talking to node ``node_id``; None in plain mode.

    ``secret_key`` (an ``--admin-key`` flag) overrides the config's
    ``security.admin_secret_key``; its public key must be one of the
    config's ``admin_keys``, or every node would refuse it.
    """
    sec = cfg.security
    if sec is None:
        return None
    field = ADMIN_KEY_FLAG if secret_key is not None else "security.admin_secret_key"
    path = secret_key if secret_key is not None else sec.admin_secret_key
    if path is None:
        raise ConfigError(
            "security.admin_secret_key",
            f"not set, and no {ADMIN_KEY_FLAG} given: the admin lane needs an admin key",
        )
    public, secret = _read(path, field)
    if public not in sec.admins.values():
        raise ConfigError(field, f"{path} is not one of the config's admin_keys")
    return ClientKeys(public=public, secret=secret, server=sec.members[node_id])


def _read(path: Path, field: str) -> tuple[bytes, bytes]:
    try:
        return read_secret_key(path)
    except KeyFileError as exc:
        raise ConfigError(field, str(exc)) from None
