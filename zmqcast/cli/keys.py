"""``zmqcast keys``: CURVE keypairs for a secure cluster (README, "Security")."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from zmqcast.cli.errors import fail
from zmqcast.cli.options import ConfigOption
from zmqcast.config import ADMIN_NAME, NODE_ID_SLOT, ConfigError, parse_config
from zmqcast.security.keys import SECRET_SUFFIX, KeyFileError, write_keypair

keys_app = typer.Typer(
    name="keys",
    help="CURVE keys for a secure cluster: a keypair per node, and admin keys for tools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_ADMIN = "admin"


@keys_app.command("generate")
def generate(
    config: ConfigOption,
    out: Annotated[Path, typer.Option("--out", help="Directory to write the keys to.")],
    admin: Annotated[
        list[str] | None,
        typer.Option(
            "--admin",
            help=f"Also an admin keypair of this name (repeat for more; default: "
            f"{DEFAULT_ADMIN}, unless --node is given).",
        ),
    ] = None,
    node: Annotated[
        list[str] | None,
        typer.Option("--node", help="Only this node's keypair (repeat for more): key rotation."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace key files that exist.")] = False,
) -> None:
    """Write a CURVE keypair per node of the config, and admin keypairs, under OUT.

    OUT/nodes/ID.key and OUT/admins/NAME.key are public; the .key_secret
    files (mode 0600) are secret: each node gets only its own, the tools the
    admin's. Prints the config's `security` block that uses them.
    """
    ids = _node_ids(config)
    chosen = node or ids
    for node_id in chosen:
        if node_id not in ids:
            fail("--node", f"no node {node_id!r} in {config} (nodes: {', '.join(ids)})")
    admins = admin if admin is not None else ([] if node else [DEFAULT_ADMIN])
    for name in admins:
        if not ADMIN_NAME.fullmatch(name):
            fail(
                "--admin",
                f"{name!r} must be 1 to 64 letters, digits, '_', '.' or '-', "
                "starting with a letter or digit",
            )
    nodes_dir, admins_dir = out / "nodes", out / "admins"
    written: list[Path] = []
    try:
        for node_id in chosen:
            written.extend(write_keypair(nodes_dir, node_id, overwrite=force))
        for name in admins:
            written.extend(write_keypair(admins_dir, name, overwrite=force))
    except KeyFileError as exc:
        fail("--out", str(exc))
    except OSError as exc:
        fail("--out", f"cannot write keys under {out}: {exc.strerror or exc}")
    for path in written:
        kind = "secret, mode 0600" if path.name.endswith(SECRET_SUFFIX) else "public"
        typer.echo(f"wrote {path} ({kind})", err=True)
    typer.echo(
        "Give each node its own .key_secret only, and the admin's to the tools. "
        "Add to the config (paths are relative to its directory):",
        err=True,
    )
    block = security_block(config, out, admins[0] if admins else None)
    typer.echo(orjson.dumps({"security": block}, option=orjson.OPT_INDENT_2).decode())


def security_block(config: Path, out: Path, admin: str | None) -> dict[str, Any]:
    """The config's ``security`` block for keys written under ``out``."""
    base = os.path.relpath(out.resolve(), config.resolve().parent)
    block: dict[str, Any] = {
        "public_keys": f"{base}/nodes",
        "admin_keys": f"{base}/admins",
        "secret_key": f"{base}/nodes/{NODE_ID_SLOT}{SECRET_SUFFIX}",
    }
    if admin is not None:
        block["admin_secret_key"] = f"{base}/admins/{admin}{SECRET_SUFFIX}"
    return block


def _node_ids(config: Path) -> list[str]:
    """The config's node ids; its ``security`` block is ignored (its keys may not exist yet)."""
    try:
        data = orjson.loads(config.read_bytes())
    except OSError as exc:
        fail(f"config {config}", f"cannot read: {exc.strerror or exc}")
    except orjson.JSONDecodeError as exc:
        fail(f"config {config}", f"invalid JSON: {exc}")
    if isinstance(data, dict):
        data.pop("security", None)
    try:
        return parse_config(data, base_dir=config.parent).ids
    except ConfigError as exc:
        fail(f"config {config}: {exc.field}", exc.message)
