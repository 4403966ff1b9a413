"""Extraction: a stream's slices -> requests -> pages -> records, with checkpoints.

A stream runs as slices: one for a plain stream, one per partition value, or one per
parent record (a substream). Slices run concurrently under the connector's bound;
each reads its pages in order and hands every page, with the state to save after it,
to the caller through a bounded queue (so memory stays flat and the caller's loading
overlaps the next request).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from .errors import ManifoldError, ResponseError, StreamError
from .incremental import build_incremental, deep_merge
from .mapping import compile_filter
from .pages import Page, RequestPatch
from .pagination import PageGuard, build_paginator
from .paths import compile_path
from .runtime import ConnectorRuntime, apply_patch
from .spec.models import ServerTokenIncremental, StreamSpec


@dataclass(frozen=True)
class Slice:
    key: str
    parent: Any = None
    partition: Any = None
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class PageItem:
    """One page's records and the slice state to save once they are loaded."""

    slice_key: str
    records: list[Any]
    state: dict[str, Any]
    number: int
    url: str
    done: bool
    values: dict[str, Any] = field(default_factory=dict)


class StreamReader:
    """Reads one stream of one connector run."""

    def __init__(self, runtime: ConnectorRuntime, name: str):
        self.runtime = runtime
        self.name = name
        self.stream: StreamSpec = runtime.spec.streams[name]
        self.paginator = build_paginator(self.stream.paging)
        self.incremental = build_incremental(self.stream.incremental)
        self._records = compile_path(self.stream.records)
        self._filter = compile_filter(self.stream.filter)
        self._key_getters = [compile_path(k) for k in self.stream.primary_key]
        self._whole_body = self.stream.records == ""

    # ------------------------------------------------------------ slices

    def slice_key(self, record: Any) -> str:
        return "|".join(str(g(record)) for g in self._key_getters)

    def slices(self) -> Iterator[Slice]:
        stream = self.stream
        if stream.parent:
            parent = StreamReader(self.runtime, stream.parent.stream)
            columns = {column: compile_path(path) for column, path in stream.parent.fields.items()}
            for record in parent.all_records():
                values = {column: get(record) for column, get in columns.items()}
                yield Slice(parent.slice_key(record), parent=record, values=values)
        elif stream.partitions:
            configured = self.runtime.connection.config.get(stream.partitions.config) or []
            column = stream.partitions.field
            for value in configured if isinstance(configured, list) else [configured]:
                yield Slice(str(value), partition=value, values={column: value} if column else {})
        else:
            yield Slice("")

    def all_records(self) -> Iterator[Any]:
        """Every record of every slice, no state (how a parent stream is read)."""
        for item in self.read({}, save_progress=False):
            yield from item.records

    # ------------------------------------------------------------ one slice

    def _extract(self, body: Any) -> list[Any]:
        if self._whole_body:  # a list body is the records (GitHub); an object body is one record (Gmail get)
            records = body if isinstance(body, list) else ([] if body is None else [body])
        else:
            records = self._records(body)
            if records is None:
                shape = (
                    f"has keys: {', '.join(list(body)[:8])}"
                    if isinstance(body, dict)
                    else f"is {type(body).__name__}"
                )
                raise ResponseError(f"records path '{self.stream.records}' is missing; the body {shape}")
            if not isinstance(records, list):
                records = [records]
        if self._filter is not None:
            records = [r for r in records if self._filter(r)]
        return records

    def read_slice(self, piece: Slice, saved: dict[str, Any]) -> Iterator[PageItem]:
        """Pages of one slice in order; resumes from a saved checkpoint."""
        runtime = self.runtime
        client = runtime.client
        style = self.incremental
        checkpoint = saved.get("checkpoint")
        if checkpoint:
            run_params = dict(checkpoint.get("run_params") or {})
            run_json = dict(checkpoint.get("run_json") or {})
            patch = RequestPatch.from_dict(checkpoint["patch"])
            high = checkpoint.get("high")
            number = int(checkpoint.get("page", 1))
        else:
            run_params = style.start_params(saved)
            run_json = style.start_json(saved)
            patch = self.paginator.first()
            high = None
            number = 1
        base = runtime.request(self.stream, state=saved, parent=piece.parent, partition=piece.partition)
        for name in style.dropped_params(saved) if run_params else []:
            base.params.pop(name, None)
        base.params.update(run_params)
        if run_json:
            base.json = deep_merge(base.json or {}, run_json)
        guard = PageGuard(runtime.spec.http.page_cap)
        incremental = self.stream.incremental
        expired_ok: frozenset[int] = frozenset()
        if run_params and isinstance(incremental, ServerTokenIncremental):
            expired_ok = frozenset(incremental.expired_status)
        while True:
            request = apply_patch(base, patch)
            url = runtime.redactor(str(httpx.URL(request.url).copy_merge_params(request.params)))
            try:
                guard.check(patch)
                response = client.send(request, ok_statuses=expired_ok)
                if response.status_code in expired_ok:
                    # The provider says the token expired: a full sync of this slice, on its own.
                    yield from self.read_slice(piece, {})
                    return
                body = client.json(response)
                records = self._extract(body)
                page = Page(str(response.url), response.status_code, response.headers, body, records, number)
                next_patch = self.paginator.next(patch, page)
            except ManifoldError as exc:
                raise StreamError(runtime.spec.name, self.name, exc, page=number, url=url) from None
            high = style.observe(records, high)
            if next_patch is None:
                yield PageItem(
                    piece.key, records, style.finish(saved, high, page), number, url, True, piece.values
                )
                return
            state = {
                **{k: v for k, v in saved.items() if k != "checkpoint"},
                "checkpoint": {
                    "patch": next_patch.to_dict(),
                    "run_params": run_params,
                    **({"run_json": run_json} if run_json else {}),
                    "high": high,
                    "page": number + 1,
                },
            }
            yield PageItem(piece.key, records, state, number, url, False, piece.values)
            patch = next_patch
            number += 1

    # ------------------------------------------------------------ the whole stream

    def read(
        self, saved_slices: dict[str, dict[str, Any]], *, save_progress: bool = True
    ) -> Iterator[PageItem]:
        """Pages of every slice, slices run concurrently under http.concurrency."""
        concurrency = self.runtime.spec.http.concurrency
        if not (self.stream.parent or self.stream.partitions):
            yield from _prefetched(lambda: self.read_slice(Slice(""), saved_slices.get("", {})))
            return
        out: queue.Queue[PageItem | BaseException | None] = queue.Queue(maxsize=concurrency * 4)
        stop = threading.Event()
        slots = threading.BoundedSemaphore(concurrency)
        put = _putter(out, stop)

        def run_slice(piece: Slice) -> None:
            try:
                for item in self.read_slice(piece, saved_slices.get(piece.key, {})):
                    if not put(item):
                        return
            except BaseException as exc:  # handed to the consumer, which raises it
                put(exc)
            finally:
                slots.release()

        def acquire() -> bool:
            while not slots.acquire(timeout=0.1):
                if stop.is_set():
                    return False
            return True

        def feed(pool: ThreadPoolExecutor) -> None:
            try:
                for piece in self.slices():
                    if not acquire():
                        return
                    pool.submit(run_slice, piece)
            except BaseException as exc:
                put(exc)
                return
            for _ in range(concurrency):  # every slot back: every slice has finished
                if not acquire():
                    return
            put(None)

        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"slice-{self.name}") as pool:
            feeder = threading.Thread(target=feed, args=(pool,), name=f"feed-{self.name}", daemon=True)
            feeder.start()
            try:
                while True:
                    item = out.get()
                    if item is None:
                        return
                    if isinstance(item, BaseException):
                        raise item
                    yield item
            finally:
                stop.set()
                feeder.join()


def _putter(
    out: queue.Queue[PageItem | BaseException | None], stop: threading.Event
) -> Callable[[PageItem | BaseException | None], bool]:
    """A put that gives up (returns False) once the consumer has stopped listening."""

    def put(item: PageItem | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    return put


def _prefetched(pages: Callable[[], Iterator[PageItem]]) -> Iterator[PageItem]:
    """Read one slice in a background thread, one page ahead of the consumer."""
    out: queue.Queue[PageItem | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()
    put = _putter(out, stop)

    def produce() -> None:
        try:
            for item in pages():
                if not put(item):
                    return
            put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
