"""Directed link graphs: the named shapes and the strong-connectivity check.

A topology maps each node id to its out-neighbours, in a fixed order. Flooding
reaches every node from every origin exactly when the graph is strongly
connected, so every configured or generated topology must pass
:func:`strongly_connected`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Topology = dict[str, list[str]]

SHAPES: tuple[str, ...] = ("mesh", "ring", "line", "squares")


def node_names(count: int) -> list[str]:
    """The default node ids ``P1..Pn``."""
    return [f"P{i}" for i in range(1, count + 1)]


def mesh(nodes: Sequence[str]) -> Topology:
    """Every node links to every other node."""
    return {n: [m for m in nodes if m != n] for n in nodes}


def ring(nodes: Sequence[str]) -> Topology:
    """A directed ring: each node links only to the next one."""
    count = len(nodes)
    return {n: [nodes[(i + 1) % count]] for i, n in enumerate(nodes)} if count > 1 else {}


def line(nodes: Sequence[str]) -> Topology:
    """A chain with links both ways between neighbours."""
    out: Topology = {n: [] for n in nodes}
    for a, b in itertools.pairwise(nodes):
        out[a].append(b)
        out[b].append(a)
    return out


def squares(nodes: Sequence[str]) -> Topology:
    """Two squares (bidirectional 4-cycles) joined by one bidirectional link.

    Needs exactly 8 nodes: ``n0..n3`` form one square, ``n4..n7`` the other,
    and ``n2 <-> n4`` joins them.
    """
    if len(nodes) != 8:
        raise ValueError("squares: needs exactly 8 nodes")
    out: Topology = {n: [] for n in nodes}

    def link(a: str, b: str) -> None:
        out[a].append(b)
        out[b].append(a)

    for base in (0, 4):
        for i in range(4):
            link(nodes[base + i], nodes[base + (i + 1) % 4])
    link(nodes[2], nodes[4])
    return out


def build(shape: str, nodes: Sequence[str]) -> Topology:
    """The topology of the named ``shape`` over ``nodes``."""
    if shape == "mesh":
        return mesh(nodes)
    if shape == "ring":
        return ring(nodes)
    if shape == "line":
        return line(nodes)
    if shape == "squares":
        return squares(nodes)
    raise ValueError(f"topology: unknown shape {shape!r} (expected one of {', '.join(SHAPES)})")


def in_neighbours(topology: Mapping[str, Sequence[str]]) -> Topology:
    """For each node, the nodes that link to it, in node order."""
    incoming: Topology = {n: [] for n in topology}
    for src, dsts in topology.items():
        for dst in dsts:
            incoming[dst].append(src)
    return incoming


def echo_neighbours(topology: Mapping[str, Sequence[str]], node: str) -> list[str]:
    """The out-neighbours ``o`` of ``node`` to which it must echo ``o``'s messages.

    If ``o`` crashes mid-multicast, the copies it did send must still reach
    every other node. ``node`` spreads its copy by relaying, which covers
    everything it can reach without ``o``; if that is not everyone, it echoes
    the message back to ``o`` as well, so that ``o``'s next incarnation floods it.
    """
    echoes: list[str] = []
    for origin in topology.get(node, ()):
        if node not in topology.get(origin, ()):
            continue  # origin never sends to node directly
        without = {n: [m for m in out if m != origin] for n, out in topology.items() if n != origin}
        if _reachable(node, without) != set(without):
            echoes.append(origin)
    return echoes


def _reachable(start: str, edges: Mapping[str, Sequence[str]]) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def strongly_connected(topology: Mapping[str, Sequence[str]]) -> bool:
    """True if every node can reach every other node along the links."""
    nodes = list(topology)
    if len(nodes) <= 1:
        return True
    everyone = set(nodes)
    return (
        _reachable(nodes[0], topology) == everyone
        and _reachable(nodes[0], in_neighbours(topology)) == everyone
    )


def next_hops(topology: Mapping[str, Sequence[str]], node: str) -> dict[str, str]:
    """For every other node, the neighbour of ``node`` on a shortest path to it.

    Links count both ways: control lanes run in both directions of every link.
    Ties go to the neighbour listed first, so every node computes the same routes.
    """
    adjacent: dict[str, list[str]] = {n: [] for n in topology}
    for a, outs in topology.items():
        for b in outs:
            if b not in adjacent[a]:
                adjacent[a].append(b)
            if a not in adjacent[b]:
                adjacent[b].append(a)
    hops: dict[str, str] = {}
    frontier: list[tuple[str, str]] = [(n, n) for n in adjacent[node]]
    seen = {node}
    while frontier:
        following: list[tuple[str, str]] = []
        for current, first in frontier:
            if current in seen:
                continue
            seen.add(current)
            hops[current] = first
            following.extend((n, first) for n in adjacent[current] if n not in seen)
        frontier = following
    return hops


@dataclass(frozen=True, slots=True)
class RelayTree:
    """One node's place in every origin's relay tree (config ``"relay": "tree"``).

    ``parent[o]`` is the neighbour from which this node takes ``o``'s
    multicasts (absent for its own), and ``children[o]`` the out-neighbours it
    passes them on to. Over all nodes, each origin's tree has N-1 edges, so a
    multicast costs N-1 data copies while nothing fails.
    """

    parent: Mapping[str, str]
    children: Mapping[str, tuple[str, ...]]


def relay_tree(topology: Mapping[str, Sequence[str]], node: str) -> RelayTree:
    """``node``'s parent and children in each origin's breadth-first out-tree.

    Breadth first over the directed links, out-neighbours in their listed
    order, so every node computes the same trees and each path is a shortest
    one (a mesh gives stars: the origin sends to everyone itself). Needs a
    strongly connected topology, where every origin's tree spans every node.
    """
    parent: dict[str, str] = {}
    children: dict[str, tuple[str, ...]] = {}
    for origin in topology:
        discovered_by: dict[str, str] = {}
        seen = {origin}
        frontier = [origin]
        while frontier:
            following: list[str] = []
            for current in frontier:
                for nxt in topology.get(current, ()):
                    if nxt not in seen:
                        seen.add(nxt)
                        discovered_by[nxt] = current
                        following.append(nxt)
            frontier = following
        if node in discovered_by:
            parent[origin] = discovered_by[node]
        children[origin] = tuple(n for n, p in discovered_by.items() if p == node)
    return RelayTree(parent, children)
