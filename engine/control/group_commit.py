"""Group commit: many concurrent small writes, one transaction (and one fsync) per batch.

    writer = GroupCommitter(lambda batch: inbox.write(...))
    future = writer.submit(item)         # concurrent.futures.Future, from any thread
    result = await writer.submit_async(item)   # from an event loop

A web service under load receives deliveries from many connections at once; committing each
alone would make the disk the bottleneck. One thread takes everything queued, commits it
together and answers each caller only after its commit: nothing is acknowledged unstored.
When a batch fails, its items are retried one by one, so one bad item fails only itself.
An event loop's callers of a batch are woken with one callback, not one per item.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")
Sink = Future[Any] | tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]"]

_STOP = object()


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    """On the loop: hand each waiting coroutine its result (unless it gave up waiting)."""
    for future, result, error in outcomes:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class GroupCommitter(Generic[ItemT, ResultT]):
    """Runs `commit(batch) -> results` (one result per item, in order) on one thread."""

    def __init__(
        self,
        commit: Callable[[Sequence[ItemT]], Sequence[ResultT]],
        *,
        max_batch: int = 256,
        name: str = "group-commit",
    ):
        self._commit = commit
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._closed = False
        self._thread.start()

    def submit(self, item: ItemT) -> Future[ResultT]:
        future: Future[ResultT] = Future()
        if self._closed:
            future.set_exception(RuntimeError("the writer is closed"))
            return future
        self._queue.put((item, future))
        return future

    def submit_async(self, item: ItemT) -> asyncio.Future[ResultT]:
        """Queue from a running event loop; await the result there."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ResultT] = loop.create_future()
        if self._closed:
            future.set_exception(RuntimeError("the writer is closed"))
            return future
        self._queue.put((item, (loop, future)))
        return future

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._closed

    def close(self, timeout: float = 10) -> None:
        """Finish what is queued, then stop."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batch.append(more)
            self._deliver(self._flush(batch))  # type: ignore[arg-type]
            if stop:
                return

    def _flush(self, batch: list[tuple[ItemT, Sink]]) -> list[tuple[Sink, Any, BaseException | None]]:
        items = [item for item, _ in batch]
        try:
            results = self._commit(items)
        except Exception as exc:
            if len(batch) == 1:
                return [(batch[0][1], None, exc)]
            outcomes = []
            for single in batch:  # find the bad one; the rest still land
                outcomes += self._flush([single])
            return outcomes
        return [(sink, result, None) for (_, sink), result in zip(batch, results, strict=True)]

    @staticmethod
    def _deliver(outcomes: list[tuple[Sink, Any, BaseException | None]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]]
        by_loop = defaultdict(list)
        for sink, result, error in outcomes:
            if isinstance(sink, tuple):
                loop, future = sink
                by_loop[loop].append((future, result, error))
            elif error is not None:
                sink.set_exception(error)
            else:
                sink.set_result(result)
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting
                loop.call_soon_threadsafe(_settle, settled)
