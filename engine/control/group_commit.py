"""Group commit: many concurrent small writes, one transaction (and one fsync) per batch.

    writer = GroupCommitter(lambda batch: inbox.write(...))
    future = writer.submit(item)         # concurrent.futures.Future
    result = await asyncio.wrap_future(future)

A web service under load receives deliveries from many connections at once; committing each
alone would make the disk the bottleneck. One thread takes everything queued, commits it
together and answers each caller only after its commit: nothing is acknowledged unstored.
When a batch fails, its items are retried one by one, so one bad item fails only itself.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

_STOP = object()


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
            self._flush(batch)  # type: ignore[arg-type]
            if stop:
                return

    def _flush(self, batch: list[tuple[ItemT, Future[ResultT]]]) -> None:
        items = [item for item, _ in batch]
        try:
            results = self._commit(items)
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            for single in batch:  # find the bad one; the rest still land
                self._flush([single])
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
