"""``zmqcast config``: the shipped example configs, and new ones from a few flags."""

from __future__ import annotations

import sys
from typing import Annotated, Any, NoReturn

import orjson
import typer

from zmqcast import configs
from zmqcast.cli.errors import check_choice, fail
from zmqcast.config import MAX_NODES, ClusterConfig, ConfigError, parse_config
from zmqcast.topology import SHAPES, node_names

config_app = typer.Typer(
    name="config",
    help="Show the shipped example configs, or print a new one.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_BASE_PORT = 5001


@config_app.command("list")
def list_configs() -> None:
    """List the shipped configs, one a line: name, nodes, links, channel, addresses."""
    for name in configs.names():
        raw = orjson.loads(configs.read(name))
        typer.echo(f"{name:<10} {describe(parse_config(raw), raw)}")


@config_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="A shipped config, e.g. local3 (see `config list`).")],
) -> None:
    """Print the shipped config NAME (save it to a file to pass to launch or node)."""
    try:
        data = configs.read(name)
    except KeyError:
        fail("NAME", f"no shipped config {name!r}; shipped: {', '.join(configs.names())}")
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


@config_app.command("new")
def new(
    nodes: Annotated[int, typer.Option("--nodes", help=f"Number of nodes, 2 to {MAX_NODES}.")],
    topology: Annotated[
        str, typer.Option("--topology", help=f"One of: {', '.join(SHAPES)} (squares: 8 nodes).")
    ],
    base_port: Annotated[
        int, typer.Option("--base-port", help="Port of P1; P2 gets the next one, and so on.")
    ] = DEFAULT_BASE_PORT,
    host: Annotated[str, typer.Option("--host", help="Host every node binds.")] = DEFAULT_HOST,
) -> None:
    """Print a config of nodes P1..PN on HOST, ports BASE_PORT upwards, linked as TOPOLOGY."""
    typer.echo(new_config_text(nodes, topology, base_port, host), nl=False)


def new_config_text(nodes: int, topology: str, base_port: int, host: str) -> str:
    """The JSON text ``config new`` prints, validated by the config loader.

    A bad flag exits 2 with one line naming it.
    """
    if not 2 <= nodes <= MAX_NODES:  # as `zmqcast sim`: a group of one multicasts to no one
        fail("--nodes", f"must be in [2, {MAX_NODES}], got {nodes}")
    check_choice("--topology", topology, SHAPES)
    last = base_port + nodes - 1
    if base_port < 1 or last > 65535:
        fail("--base-port", f"ports {base_port} to {last} must lie in [1, 65535]")
    data: dict[str, Any] = {
        "nodes": [
            {"id": node_id, "host": host, "port": base_port + i}
            for i, node_id in enumerate(node_names(nodes))
        ],
        "links": topology,
    }
    try:
        parse_config(data)
    except ConfigError as exc:
        _fail_as_flag(exc)
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n"


def _fail_as_flag(exc: ConfigError) -> NoReturn:
    """Report a config the flags made invalid against the flag responsible."""
    if exc.field.endswith(".host"):
        fail("--host", exc.message)
    if exc.field.endswith(".port"):
        fail("--base-port", exc.message)
    if exc.field.startswith("links"):
        fail("--topology", exc.message)
    if exc.field.startswith("nodes"):
        fail("--nodes", exc.message)
    fail(exc.field, exc.message)


def describe(cfg: ClusterConfig, raw: dict[str, Any]) -> str:
    """``3 nodes, mesh, fifo channels, 127.0.0.1:5001-5003`` (and ``, faults`` if any)."""
    links = raw.get("links", "mesh")
    shape = links if isinstance(links, str) else "links listed"
    hosts = "/".join(sorted({n.host for n in cfg.nodes}))
    low, high = min(n.port for n in cfg.nodes), max(n.port for n in cfg.nodes)
    where = f"{hosts}:{low}" if low == high else f"{hosts}:{low}-{high}"
    faults = ", injected faults" if cfg.faults.active else ""
    return f"{len(cfg.nodes)} nodes, {shape}, {cfg.core.mode.value} channels, {where}{faults}"
