"""``zmqcast.AsyncNode``: the same node for asyncio programs.

The node's I/O loop still turns on its own thread (see :mod:`zmqcast.api.node`),
so a busy coroutine never stalls the protocol's timers. Every call hands its
work to that loop and awaits the result with :func:`asyncio.wrap_future`;
deliveries reach an :class:`asyncio.Queue` through
:meth:`asyncio.AbstractEventLoop.call_soon_threadsafe`. Nothing here blocks the
event loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TextIO, TypeVar

from zmqcast.api.app import Application, Transaction
from zmqcast.api.node import CLOSE_TIMEOUT, EventHook, Node, StateFn
from zmqcast.api.types import Message, MessageId, NodeClosed, NodeStatus, Snapshot
from zmqcast.config import ClusterConfig
from zmqcast.core.snapshot import Variant

_CLOSED = object()
T = TypeVar("T")


class AsyncNode:
    """One node of the cluster ``config``, for ``async with`` and ``await``.

    Takes the arguments of :class:`zmqcast.Node`. The node starts when the
    ``async with`` block is entered (or on :meth:`start`), inside the running
    event loop. With ``app``, messages go to the application (on the node's
    thread), not to :meth:`receive`.
    """

    def __init__(
        self,
        config: ClusterConfig | Mapping[str, Any] | str | os.PathLike[str],
        node_id: str,
        *,
        run_dir: str | os.PathLike[str] | None = None,
        state: StateFn | None = None,
        app: Application | None = None,
        on_event: EventHook | None = None,
        sender_log: bool = False,
        warnings: TextIO | None = None,
    ) -> None:
        self._args = (config, node_id)
        self._kwargs: dict[str, Any] = {
            "run_dir": run_dir,
            "state": state,
            "app": app,
            "on_event": on_event,
            "sender_log": sender_log,
            "warnings": warnings,
        }
        self._node: Node | None = None
        self._queue: asyncio.Queue[Message | object] | None = None

    async def start(self) -> AsyncNode:
        """Start the node (bind, connect, run its loop); idempotent."""
        if self._node is None:
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[Message | object] = asyncio.Queue()
            self._queue = queue

            def sink(message: Message) -> None:
                loop.call_soon_threadsafe(queue.put_nowait, message)

            self._node = Node(*self._args, **self._kwargs, _sink=sink)
        return self

    @property
    def node(self) -> Node:
        """The blocking node underneath (for its ``id``, ``inc`` and ``config``)."""
        if self._node is None:
            raise NodeClosed("the node is not started: use `async with` or `await node.start()`")
        return self._node

    @property
    def id(self) -> str:
        return self.node.id

    async def multicast(self, payload: bytes, *, timeout: float | None = None) -> MessageId:
        """See :meth:`zmqcast.Node.multicast`."""
        return await asyncio.wrap_future(self.node.multicast_future(payload, timeout=timeout))

    async def multicast_many(
        self, payloads: Iterable[bytes], *, timeout: float | None = None
    ) -> list[MessageId]:
        """See :meth:`zmqcast.Node.multicast_many`."""
        return await asyncio.wrap_future(self.node.multicast_many_future(payloads, timeout=timeout))

    async def multicast_stream(
        self, payloads: Iterable[bytes], *, timeout: float | None = None
    ) -> int:
        """See :meth:`zmqcast.Node.multicast_stream`: ``payloads`` is a plain iterable,
        pulled on the node's thread (not an async generator)."""
        return await asyncio.wrap_future(self.node.multicast_stream(payloads, timeout=timeout))

    async def atomically(self, work: Callable[[Transaction], T]) -> T:
        """See :meth:`zmqcast.Node.atomically` (``work`` runs on the node's thread)."""
        return await asyncio.wrap_future(self.node.atomically_future(work))

    async def send(self, dst: str, payload: bytes, *, timeout: float | None = None) -> None:
        """See :meth:`zmqcast.Node.send`."""
        await asyncio.wrap_future(self.node.send_future(dst, payload, timeout=timeout))

    async def receive(self, timeout: float | None = None) -> Message:
        """The next message; :class:`TimeoutError` after ``timeout`` seconds."""
        node = self.node
        assert self._queue is not None
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            raise TimeoutError(f"{node.id}: nothing received in {timeout} s") from None
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)  # every later receive ends the same way
            raise NodeClosed(f"node {node.id} is closed")
        assert isinstance(item, Message)
        return item

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Message]:
        while True:
            try:
                yield await self.receive()
            except NodeClosed:
                return

    async def snapshot(
        self, variant: str | Variant | None = None, *, timeout: float = 60.0
    ) -> Snapshot:
        """See :meth:`zmqcast.Node.snapshot`."""
        future = asyncio.wrap_future(self.node.snapshot_future(variant))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(f"snapshot: not complete within {timeout} s") from None

    async def status(self) -> NodeStatus:
        """See :meth:`zmqcast.Node.status`."""
        return await asyncio.to_thread(self.node.status)

    async def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Flush (bounded by ``timeout``), stop and free the node, off the event loop."""
        if self._node is not None:
            await asyncio.to_thread(self._node.close, timeout)
            if self._queue is not None:
                self._queue.put_nowait(_CLOSED)

    async def __aenter__(self) -> AsyncNode:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
