"""Cluster configuration files: loading and validation.

A config is a JSON object (see README, "Config format"). Every problem is
reported as a :class:`ConfigError` naming the field path, so the CLI can print
one line and exit 2 instead of a traceback.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from zmqcast.core.config import ChannelMode, CoreConfig, Relay
from zmqcast.security.keys import KeyFileError, check_z85_key, read_public_key
from zmqcast.topology import SHAPES, Topology, build, strongly_connected

MAX_NODES = 64
MAX_NODE_ID = 64


class ConfigError(ValueError):
    """A config problem at ``field`` (a path such as ``nodes[1].port``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class NodeAddress:
    id: str
    host: str
    port: int
    bind: str | None = None
    """Where the node listens, if not ``host`` (``0.0.0.0`` behind NAT or in a
    container); peers still connect to ``host``."""

    @property
    def endpoint(self) -> str:
        """The ZeroMQ TCP endpoint peers connect to: ``host:port``."""
        return tcp_endpoint(self.host, self.port)

    @property
    def bind_endpoint(self) -> str:
        """The ZeroMQ TCP endpoint the node's ROUTER binds: ``bind:port``."""
        return tcp_endpoint(self.bind or self.host, self.port)

    @property
    def ipv6(self) -> bool:
        """True if either address is an IPv6 literal (the sockets then need ``IPV6``)."""
        return ":" in self.host or ":" in (self.bind or "")


def tcp_endpoint(host: str, port: int) -> str:
    """``tcp://host:port``, with an IPv6 literal in brackets."""
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


FAULT_KINDS = ("loss", "dup", "delay", "reorder")


@dataclass(frozen=True, slots=True)
class LinkFaults:
    """Fault probabilities of one directed link, each per frame."""

    loss: float = 0.0
    dup: float = 0.0
    delay: float = 0.0
    """Probability that a frame is held back by a random delay up to ``max_delay``."""
    reorder: float = 0.0
    """Probability that a frame is swapped with the link's next frame."""

    @property
    def active(self) -> bool:
        return bool(self.loss or self.dup or self.delay or self.reorder)


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Loss injection between the core and the socket, per link and per frame.

    The top-level probabilities apply to every link; ``links`` overrides some of
    them for single directed links, keyed ``"P1>P2"``.
    """

    loss: float = 0.0
    dup: float = 0.0
    delay: float = 0.0
    reorder: float = 0.0
    max_delay: float = 0.05
    """Upper bound, in seconds, of an injected delay or of a reorder hold."""
    seed: int = 0
    links: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def for_link(self, src: str, dst: str) -> LinkFaults:
        """The probabilities in force on the link ``src -> dst``."""
        base = {k: getattr(self, k) for k in FAULT_KINDS}
        base.update(self.links.get(f"{src}>{dst}", {}))
        return LinkFaults(**base)

    @property
    def active(self) -> bool:
        """Whether any link has a non-zero fault probability."""
        rates = [self.loss, self.dup, self.delay, self.reorder]
        rates.extend(v for over in self.links.values() for v in over.values())
        return any(rates)


ADMIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""An admin key's name: the admin client is known to nodes as ``~NAME``."""
NODE_ID_SLOT = "{id}"
"""Stands for the node's id in ``security.secret_key``."""


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    """CURVE keys of a secure cluster (config ``security``; README, "Security").

    Every public key is loaded when the config is, so a node knows every
    member's and admin's key before it opens a socket. Paths are absolute.
    """

    members: Mapping[str, bytes]
    """Node id -> its public key (Z85)."""
    admins: Mapping[str, bytes] = field(default_factory=dict)
    """Admin name -> its public key (Z85). Admin clients are known as ``~NAME``."""
    secret_key: str | None = None
    """Path of a node's secret key file, with ``{id}`` standing for the node's id."""
    admin_secret_key: Path | None = None
    """The secret key file tools (``zmqcast status``, ``snapshot``, ``stress``) use."""
    secret_key_field: str = "security.secret_key"
    """What to name in an error about ``secret_key``: the field, or the flag that set it."""

    def secret_key_path(self, node_id: str) -> Path | None:
        """Where node ``node_id`` reads its secret key, per the config (None if unset)."""
        if self.secret_key is None:
            return None
        return Path(self.secret_key.replace(NODE_ID_SLOT, node_id))

    def to_json(self) -> dict[str, Any]:
        """The block as config JSON, with keys inline and paths absolute.

        Written into a derived config (the stress harness's ``RUN_DIR/config.json``),
        it means the same wherever that file lies.
        """
        out: dict[str, Any] = {
            "public_keys": {n: k.decode() for n, k in self.members.items()},
            "admin_keys": {n: k.decode() for n, k in self.admins.items()},
        }
        if self.secret_key is not None:
            out["secret_key"] = self.secret_key
        if self.admin_secret_key is not None:
            out["admin_secret_key"] = str(self.admin_secret_key)
        return out


@dataclass(frozen=True, slots=True)
class AdminPolicy:
    """Who may use the admin lane (config ``admin``; README, "The admin lane's policy").

    Without ``security``, admin requests are taken from loopback peers only,
    unless ``remote``; with it, from admin keys alone, wherever they connect
    from. ``faults`` and ``workload`` requests from a peer that is not on
    loopback are refused unless ``remote_fault_control``.
    """

    remote: bool = False
    remote_fault_control: bool = False


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    nodes: tuple[NodeAddress, ...]
    links: Topology
    core: CoreConfig
    faults: FaultConfig
    max_frame_bytes: int
    security: SecurityConfig | None = None
    """CURVE encryption and authentication; None: plain mode (no keys)."""
    admin: AdminPolicy = field(default_factory=AdminPolicy)

    @property
    def ipv6(self) -> bool:
        """True if any node's address is IPv6: every socket then enables ``IPV6``."""
        return any(n.ipv6 for n in self.nodes)

    def node(self, node_id: str) -> NodeAddress:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise ConfigError("--id", f"no node {node_id!r} in the config")

    @property
    def ids(self) -> list[str]:
        return [n.id for n in self.nodes]


def load_config(path: Path) -> ClusterConfig:
    """Read and validate the config at ``path``.

    Relative paths in its ``security`` block are taken from the config
    file's directory.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror or exc}") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(str(path), f"invalid JSON: {exc}") from None
    return parse_config(data, base_dir=path.absolute().parent)


def parse_config(data: Any, *, base_dir: Path | None = None) -> ClusterConfig:
    """Validate an already-decoded config object.

    ``base_dir`` is where relative paths of the ``security`` block start
    (the config file's directory); the working directory by default.
    """
    if not isinstance(data, dict):
        raise ConfigError("(top level)", "must be a JSON object")
    _no_unknown(
        data,
        "",
        {
            "nodes",
            "links",
            "channel",
            "window",
            "timeouts",
            "faults",
            "max_frame_bytes",
            "trace",
            "relay",
            "security",
            "admin",
        },
    )
    nodes = _parse_nodes(data.get("nodes"))
    ids = [n.id for n in nodes]
    links = _parse_links(data.get("links", "mesh"), ids)
    channel = data.get("channel", "fifo")
    modes = [m.value for m in ChannelMode]
    if channel not in modes:
        raise ConfigError("channel", f"must be one of {', '.join(modes)}, got {channel!r}")
    window = _int(data.get("window", 256), "window", 1, 1 << 20)
    max_frame = _int(data.get("max_frame_bytes", 1 << 20), "max_frame_bytes", 1 << 17, 1 << 30)
    trace = data.get("trace", "full")
    if trace not in TRACE_LEVELS:
        raise ConfigError("trace", f"must be one of {', '.join(TRACE_LEVELS)}, got {trace!r}")
    relay = data.get("relay", Relay.TREE.value)
    relays = [r.value for r in Relay]
    if relay not in relays:
        raise ConfigError("relay", f"must be one of {', '.join(relays)}, got {relay!r}")
    timeouts = data.get("timeouts", {})
    if not isinstance(timeouts, dict):
        raise ConfigError("timeouts", "must be an object")
    _no_unknown(timeouts, "timeouts.", set(_TIMEOUTS))
    values = {
        name: _seconds(timeouts.get(name, default), f"timeouts.{name}")
        for name, default in _TIMEOUTS.items()
    }
    try:
        core = CoreConfig(
            mode=ChannelMode(channel),
            relay=Relay(relay),
            window=window,
            reorder_limit=max(4096, window),
            rto=values["rto"],
            rto_max=values["rto_max"],
            ack_delay=values["ack_delay"],
            heartbeat_interval=values["heartbeat"],
            suspect_after=values["suspect_after"],
            loss_timeout=values["loss_timeout"],
            holdback_timeout=values["holdback"],
            snapshot_timeout=values["snapshot"],
            trace_messages=trace == "full",
            max_frame_bytes=max_frame,
        )
    except ValueError as exc:
        raise ConfigError("timeouts", str(exc)) from None
    faults = _parse_faults(data.get("faults", {}), ids)
    security = None
    if "security" in data:
        security = _parse_security(data["security"], ids, base_dir or Path.cwd())
    admin = _parse_admin(data.get("admin", {}))
    return ClusterConfig(tuple(nodes), links, core, faults, max_frame, security, admin)


TRACE_LEVELS = ("full", "lean")
"""Config ``trace``: every event, or all but the per-message multicast events."""

_CORE_FIELD = {
    "rto": "rto",
    "rto_max": "rto_max",
    "ack_delay": "ack_delay",
    "heartbeat": "heartbeat_interval",
    "suspect_after": "suspect_after",
    "loss_timeout": "loss_timeout",
    "holdback": "holdback_timeout",
    "snapshot": "snapshot_timeout",
}
"""Config ``timeouts`` key -> the :class:`CoreConfig` field it sets."""
_TIMEOUTS: dict[str, float] = {
    key: getattr(CoreConfig(), name) for key, name in _CORE_FIELD.items()
}
"""Defaults of ``timeouts``: the core's own (the one place defaults live)."""


def _no_unknown(obj: Mapping[str, Any], prefix: str, known: set[str]) -> None:
    for key in obj:
        if key not in known:
            raise ConfigError(
                f"{prefix}{key}", f"unknown field (known: {', '.join(sorted(known))})"
            )


def _int(value: Any, field: str, lo: int, hi: int) -> int:
    if type(value) is not int:
        raise ConfigError(field, f"must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(field, f"must be between {lo} and {hi}, got {value}")
    return value


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(field, f"must be a number, got {value!r}")
    return float(value)


def _seconds(value: Any, field: str) -> float:
    seconds = _number(value, field)
    if not 0 <= seconds <= 3600:
        raise ConfigError(field, f"must be between 0 and 3600 seconds, got {value}")
    return seconds


def _probability(value: Any, field: str) -> float:
    p = _number(value, field)
    if not 0.0 <= p < 1.0:
        raise ConfigError(field, f"must be in [0, 1), got {value}")
    return p


def _check_address(value: str, field: str) -> None:
    """A host name, an IPv4 address, or an IPv6 literal (no brackets, no zone)."""
    if ":" in value:
        if "%" in value:
            raise ConfigError(field, f"IPv6 zone ids are not supported: {value!r}")
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            message = f"not an IPv6 address: {value!r} (write it without brackets)"
            raise ConfigError(field, message) from None
    elif value.startswith("[") or "/" in value:
        raise ConfigError(field, f"must be a host name or address, got {value!r}")


def _parse_nodes(raw: Any) -> list[NodeAddress]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError("nodes", "must be a non-empty list")
    if len(raw) > MAX_NODES:
        raise ConfigError("nodes", f"at most {MAX_NODES} nodes, got {len(raw)}")
    nodes: list[NodeAddress] = []
    seen_ids: set[str] = set()
    seen_addrs: dict[tuple[str, int], str] = {}
    for i, entry in enumerate(raw):
        where = f"nodes[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(where, "must be an object with id, host and port")
        _no_unknown(entry, f"{where}.", {"id", "host", "port", "bind"})
        node_id = entry.get("id")
        if not isinstance(node_id, str) or not 1 <= len(node_id) <= MAX_NODE_ID:
            raise ConfigError(f"{where}.id", f"must be a string of 1 to {MAX_NODE_ID} characters")
        if node_id.startswith("~"):
            raise ConfigError(f"{where}.id", "must not start with ~ (admin clients use it)")
        if node_id in seen_ids:
            raise ConfigError(f"{where}.id", f"duplicate node id {node_id!r}")
        host = entry.get("host")
        if not isinstance(host, str) or not host or any(c.isspace() for c in host):
            raise ConfigError(f"{where}.host", f"must be a host name or address, got {host!r}")
        _check_address(host, f"{where}.host")
        bind = entry.get("bind")
        if bind is not None:
            if not isinstance(bind, str) or not bind or any(c.isspace() for c in bind):
                raise ConfigError(f"{where}.bind", f"must be an address to listen on, got {bind!r}")
            _check_address(bind, f"{where}.bind")
        port = _int(entry.get("port"), f"{where}.port", 1, 65535)
        if (host, port) in seen_addrs:
            raise ConfigError(
                f"{where}.port",
                f"address {host}:{port} is already used by {seen_addrs[(host, port)]}",
            )
        seen_ids.add(node_id)
        seen_addrs[(host, port)] = node_id
        nodes.append(NodeAddress(node_id, host, port, bind))
    return nodes


def _parse_links(raw: Any, ids: list[str]) -> Topology:
    if isinstance(raw, str):
        if raw not in SHAPES:
            raise ConfigError("links", f"must be a shape ({', '.join(SHAPES)}) or an object")
        try:
            links = build(raw, ids)
        except ValueError as exc:
            raise ConfigError("links", str(exc)) from None
    elif isinstance(raw, dict):
        links = {n: [] for n in ids}
        for src, dsts in raw.items():
            if src not in links:
                raise ConfigError(f"links.{src}", f"unknown node {src!r}")
            if not isinstance(dsts, list):
                raise ConfigError(f"links.{src}", "must be a list of node ids")
            for dst in dsts:
                if dst not in links:
                    raise ConfigError(f"links.{src}", f"link to unknown node {dst!r}")
                if dst == src:
                    raise ConfigError(f"links.{src}", "a node cannot link to itself")
                if dst in links[src]:
                    raise ConfigError(f"links.{src}", f"duplicate link to {dst!r}")
                links[src].append(dst)
    else:
        raise ConfigError("links", "must be a shape name or an object of node -> [nodes]")
    if len(ids) > 1 and not strongly_connected(links):
        raise ConfigError("links", "the topology is not strongly connected")
    return links


def parse_fault_update(
    args: Mapping[str, Any], ids: list[str], current: FaultConfig
) -> FaultConfig:
    """``current`` with the rates and ``links`` that ``args`` sets, validated as in a config.

    The admin lane's ``faults`` request takes the same fields, ranges and
    per-link overrides as a config's ``faults`` block; a bad one raises
    :class:`ConfigError` naming it.
    """
    rates: dict[str, float] = {
        k: _probability(args[k], k) if k in args else getattr(current, k) for k in FAULT_KINDS
    }
    links = current.links
    if "links" in args:
        links = _parse_faults({"links": args["links"]}, ids).links
    return dataclasses.replace(
        current,
        loss=rates["loss"],
        dup=rates["dup"],
        delay=rates["delay"],
        reorder=rates["reorder"],
        links=links,
    )


def _parse_faults(raw: Any, ids: list[str]) -> FaultConfig:
    if not isinstance(raw, dict):
        raise ConfigError("faults", "must be an object")
    _no_unknown(raw, "faults.", {*FAULT_KINDS, "max_delay", "seed", "links"})
    max_delay = _seconds(raw.get("max_delay", 0.05), "faults.max_delay")
    rates = {k: _probability(raw.get(k, 0.0), f"faults.{k}") for k in FAULT_KINDS}
    links_raw = raw.get("links", {})
    if not isinstance(links_raw, dict):
        raise ConfigError("faults.links", 'must be an object of "SRC>DST" -> {loss, dup, ...}')
    links: dict[str, dict[str, float]] = {}
    for key, over in links_raw.items():
        where = f"faults.links.{key}"
        src, sep, dst = key.partition(">")
        if not sep or src not in ids or dst not in ids or src == dst:
            raise ConfigError(where, 'must name a link "SRC>DST" between two nodes of the config')
        if not isinstance(over, dict):
            raise ConfigError(where, "must be an object")
        _no_unknown(over, f"{where}.", set(FAULT_KINDS))
        links[key] = {k: _probability(v, f"{where}.{k}") for k, v in over.items()}
    return FaultConfig(
        **rates,
        max_delay=max_delay,
        seed=_int(raw.get("seed", 0), "faults.seed", 0, (1 << 63) - 1),
        links=links,
    )


def _parse_admin(raw: Any) -> AdminPolicy:
    if not isinstance(raw, dict):
        raise ConfigError("admin", "must be an object")
    _no_unknown(raw, "admin.", {"remote", "remote_fault_control"})
    flags: dict[str, bool] = {}
    for name in ("remote", "remote_fault_control"):
        value = raw.get(name, False)
        if type(value) is not bool:
            raise ConfigError(f"admin.{name}", f"must be true or false, got {value!r}")
        flags[name] = value
    return AdminPolicy(**flags)


def _parse_security(raw: Any, ids: list[str], base: Path) -> SecurityConfig:
    if not isinstance(raw, dict):
        raise ConfigError("security", "must be an object")
    _no_unknown(raw, "security.", {"public_keys", "admin_keys", "secret_key", "admin_secret_key"})
    if "public_keys" not in raw:
        raise ConfigError(
            "security.public_keys",
            "required: a directory of NODE.key files, or an object of node id -> Z85 key",
        )
    members = _parse_keys(raw["public_keys"], "security.public_keys", base, ids)
    admins = _parse_keys(raw.get("admin_keys", {}), "security.admin_keys", base, None)
    owner: dict[bytes, str] = {}
    for where, keys in (("public_keys", members), ("admin_keys", admins)):
        for name, key in keys.items():
            if key in owner:
                raise ConfigError(
                    f"security.{where}.{name}",
                    f"the same key as {owner[key]}: each key must belong to one name",
                )
            owner[key] = name
    secret = raw.get("secret_key")
    if secret is not None:
        secret = str(_path(secret, "security.secret_key", base))
    admin_secret = raw.get("admin_secret_key")
    if admin_secret is not None:
        admin_secret = _path(admin_secret, "security.admin_secret_key", base)
    return SecurityConfig(members, admins, secret, admin_secret)


def _path(value: Any, field: str, base: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(field, f"must be a file path, got {value!r}")
    return base / Path(value).expanduser()


def _parse_keys(raw: Any, field: str, base: Path, ids: list[str] | None) -> dict[str, bytes]:
    """Public keys by name: from a directory of ``NAME.key`` files, or inline Z85.

    ``ids`` are the node ids, each of which must have a key; ``None`` for
    admin keys, whose names are free (``ADMIN_NAME``) and which may be none.
    """
    keys: dict[str, bytes] = {}
    if isinstance(raw, str):
        directory = _path(raw, field, base)
        if not directory.is_dir():
            raise ConfigError(field, f"{directory} is not a directory")
        if ids is None:
            names = sorted(p.name[: -len(".key")] for p in directory.glob("*.key"))
        else:
            names = ids
        for name in names:
            _check_key_name(name, f"{field}: {directory}", ids is None)
            try:
                keys[name] = read_public_key(directory / f"{name}.key")
            except KeyFileError as exc:
                raise ConfigError(field, str(exc)) from None
        return keys
    if not isinstance(raw, dict):
        raise ConfigError(field, "must be a directory or an object of name -> Z85 public key")
    for name, text in raw.items():
        if ids is not None and name not in ids:
            raise ConfigError(f"{field}.{name}", "not a node of the config")
        if ids is None:
            _check_key_name(name, f"{field}.{name}", True)
        try:
            keys[name] = check_z85_key(text)
        except KeyFileError as exc:
            raise ConfigError(f"{field}.{name}", str(exc)) from None
    for node_id in ids or ():
        if node_id not in keys:
            raise ConfigError(f"{field}.{node_id}", "missing: every node needs a public key")
    return keys


def _check_key_name(name: str, field: str, admin: bool) -> None:
    if admin and not ADMIN_NAME.fullmatch(name):
        raise ConfigError(
            field,
            f"admin name {name!r} must be 1 to 64 letters, digits, '_', '.' or '-'"
            ", starting with a letter or digit",
        )
    if not admin and (Path(name).name != name or name in (".", "..")):
        raise ConfigError(field, f"node id {name!r} cannot name a key file; give the keys inline")
