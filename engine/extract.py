"""Extraction: a stream's slices -> requests -> pages -> records, with checkpoints.

A stream runs as slices: one for a plain stream, one per partition value, or one per
parent record (a substream). Slices run concurrently under the connector's bound;
each reads its pages in order and hands every page, with the state to save after it,
to the caller through a bounded queue (so memory stays flat and the caller's loading
overlaps the next request).
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from .errors import ManifoldError, ResponseError, StreamError
from .incremental import FeedStyle, build_incremental, deep_merge
from .mapping import compile_filter
from .pages import Page, RequestPatch
from .pagination import PageGuard, build_paginator
from .paths import compile_path
from .runtime import ConnectorRuntime, apply_patch
from .spec.models import ChangeFeedIncremental, ServerTokenIncremental, StreamSpec
from .templating import compile_template


@dataclass(frozen=True)
class Slice:
    key: str
    parent: Any = None
    partition: Any = None
    values: dict[str, Any] = field(default_factory=dict)
    parents: list[Any] | None = None  # a batch of parent records (`parent.batch`)


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
        self.incremental = build_incremental(
            self.stream.incremental,
            clock=lambda: runtime.now,
            render=lambda template: compile_template(template).render(runtime.context),
        )
        self._records = compile_path(self.stream.records)
        self._filter = compile_filter(self.stream.filter)
        self._key_getters = [compile_path(k) for k in self.stream.primary_key]
        self._whole_body = self.stream.records == ""
        # `parent: {incremental: true}`: the parent's slice states as this stream last saved them,
        # and (once the parent is read to the end) as they are to be saved after this run.
        self.parent_state: dict[str, dict[str, Any]] = {}
        self.parent_state_after: dict[str, dict[str, Any]] | None = None
        incremental = self.stream.incremental
        token = incremental if isinstance(incremental, ServerTokenIncremental) else None
        self._start = token.start if token else None
        self._changes = token.changes if token else None
        if self._changes is not None:
            self._change_records = compile_path(self._changes.records)
            self._change_filter = compile_filter(self._changes.filter)
            self._change_record = compile_path(self._changes.record) if self._changes.record else None
            self._carry = [(key, compile_path(path)) for key, path in self._changes.carry.items()]

    # ------------------------------------------------------------ slices

    def slice_key(self, record: Any) -> str:
        return "|".join(str(g(record)) for g in self._key_getters)

    def slices(self) -> Iterator[Slice]:
        stream = self.stream
        if stream.parent and stream.parent.batch:
            parent = StreamReader(self.runtime, stream.parent.stream)
            batch: list[Any] = []
            for record in parent.all_records():
                batch.append(record)
                if len(batch) == stream.parent.batch:
                    yield self._batch_slice(parent, batch)
                    batch = []
            if batch:
                yield self._batch_slice(parent, batch)
        elif stream.parent:
            parent = StreamReader(self.runtime, stream.parent.stream)
            columns = {column: compile_path(path) for column, path in stream.parent.fields.items()}
            records = self._changed_parents(parent) if stream.parent.incremental else parent.all_records()
            key_of = compile_path(stream.parent.key) if stream.parent.key else None
            seen: set[str] = set()
            for record in records:
                values = {column: get(record) for column, get in columns.items()}
                if key_of is None:
                    yield Slice(parent.slice_key(record), parent=record, values=values)
                    continue
                key = str(key_of(record))
                if key not in seen:
                    seen.add(key)
                    yield Slice(key, parent=record, values=values)
        elif stream.partitions:
            configured = self.runtime.connection.config.get(stream.partitions.config) or []
            column = stream.partitions.field
            for value in configured if isinstance(configured, list) else [configured]:
                yield Slice(str(value), partition=value, values={column: value} if column else {})
        else:
            yield Slice("")

    def _changed_parents(self, parent: StreamReader) -> Iterator[Any]:
        """The parent's records since the saved parent state; the state to save once they are all read."""
        after: dict[str, dict[str, Any]] = {}
        for item in parent.read(self.parent_state, save_progress=False):
            if item.done:
                after[item.slice_key] = item.state
            yield from item.records
        self.parent_state_after = after

    @staticmethod
    def _batch_slice(parent: StreamReader, batch: list[Any]) -> Slice:
        """A batch's key names its parents (a digest: fifty ids make a long key)."""
        keys = "\n".join(parent.slice_key(record) for record in batch)
        return Slice("batch:" + hashlib.sha256(keys.encode()).hexdigest()[:24], parents=batch)

    def all_records(self) -> Iterator[Any]:
        """Every record of every slice, no state (how a parent stream is read)."""
        for item in self.read({}, save_progress=False):
            yield from item.records

    # ------------------------------------------------------------ one slice

    def _extract_changes(self, body: Any) -> list[Any]:
        """A changes page -> records shaped like listed ones (the changed object, carried fields on)."""
        changes = self._change_records(body)
        if changes is None:
            assert self._changes is not None
            raise ResponseError(f"changes path '{self._changes.records}' is missing from the body")
        records = []
        for change in changes if isinstance(changes, list) else [changes]:
            if self._change_filter is not None and not self._change_filter(change):
                continue
            found = self._change_record(change) if self._change_record is not None else change
            record = dict(found) if isinstance(found, dict) else {}
            for key, get in self._carry:
                record[key] = get(change)
            records.append(record)
        if self._filter is not None:
            records = [r for r in records if self._filter(r)]
        return records

    def _start_token(self, piece: Slice, saved: dict[str, Any]) -> Any:
        """The first change token, asked before the full listing (`incremental.start`)."""
        assert self._start is not None
        request = self.runtime.request(
            self.stream,
            state=saved,
            parent=piece.parent,
            partition=piece.partition,
            parents=piece.parents,
            request=self._start.request,
        )
        body = self.runtime.client.json(self.runtime.client.send(request))
        token = compile_path(self._start.token)(body)
        if token is None:
            raise ResponseError(f"start token path '{self._start.token}' is missing from the body")
        return token

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
        kept = 0
        if checkpoint:
            run_params = dict(checkpoint.get("run_params") or {})
            run_headers = dict(checkpoint.get("run_headers") or {})
            run_json = dict(checkpoint.get("run_json") or {})
            patch = RequestPatch.from_dict(checkpoint["patch"])
            high = checkpoint.get("high")
            number = int(checkpoint.get("page", 1))
            kept = int(checkpoint.get("kept", 0))
        else:
            run_params = style.start_params(saved)
            run_headers = style.start_headers(saved)
            run_json = style.start_json(saved)
            patch = self.paginator.first()
            high = None
            number = 1
        feed = style if isinstance(style, FeedStyle) else None
        feeding = feed is not None and feed.feeding(saved)
        extract: Callable[[Any], list[Any]] = self._extract
        # A changes feed (`incremental.changes`, Drive) replaces the listing once a token is saved.
        reading_changes = bool(run_params) and self._changes is not None
        if not run_params and self._start is not None and not checkpoint:
            try:  # the token is taken before the listing: what changes meanwhile comes next run
                high = self._start_token(piece, saved)
            except ManifoldError as exc:
                raise StreamError(runtime.spec.name, self.name, exc, url="start token request") from None
        if feed is not None and feeding:
            base = runtime.request(
                self.stream,
                state=saved,
                parent=piece.parent,
                partition=piece.partition,
                request=feed.spec.request,
            )
            extract = self._feed_extractor(feed)
        else:
            base = runtime.request(
                self.stream,
                state=saved,
                parent=piece.parent,
                partition=piece.partition,
                parents=piece.parents,
                request=self._changes.request if reading_changes and self._changes else None,
            )
            if reading_changes:
                extract = self._extract_changes
        for name in style.dropped_params(saved) if run_params else []:
            base.params.pop(name, None)
        base.params.update(run_params)
        base.headers.update(run_headers)
        if run_json:
            base.json = deep_merge(base.json or {}, run_json)
        guard = PageGuard(runtime.spec.http.page_cap)
        incremental = self.stream.incremental
        expired_ok: frozenset[int] = frozenset()
        if run_params and isinstance(incremental, ServerTokenIncremental | ChangeFeedIncremental):
            expired_ok = frozenset(incremental.expired_status)
        skip = frozenset(self.stream.skip_statuses)
        cap = None if run_params else self._max_records()
        if feed is not None and not feeding and not checkpoint and feed.spec.start is not None:
            high = self._feed_start_token(feed, piece, saved)
        while True:
            request = apply_patch(base, patch)
            url = runtime.redactor(str(httpx.URL(request.url).copy_merge_params(request.params)))
            try:
                guard.check(patch)
                response = client.send(request, ok_statuses=expired_ok | skip)
                if response.status_code in expired_ok:
                    # The provider says the token expired: a full sync of this slice, on its own.
                    yield from self.read_slice(piece, {})
                    return
                if response.status_code in skip:  # the slice's object is gone: nothing to read
                    yield PageItem(piece.key, [], style.finish(saved, high, _gone(response, number)),
                                   number, url, True, piece.values)  # fmt: skip
                    return
                body = client.json(response)
                records = extract(body)
                page = Page(str(response.url), response.status_code, response.headers, body, records, number)
                next_patch = self.paginator.next(patch, page)
            except ManifoldError as exc:
                raise StreamError(runtime.spec.name, self.name, exc, page=number, url=url) from None
            if cap is not None and kept + len(records) >= cap:
                records = records[: max(cap - kept, 0)]
                next_patch = None  # the cap is reached: this page is the run's last
            kept += len(records)
            high = style.observe(records, high)
            if next_patch is None:
                finished, following = style.advance(run_params, style.finish(saved, high, page))
                if following is None:
                    yield PageItem(piece.key, records, finished, number, url, True, piece.values)
                    return
                # The next run of the same slice (the next date window): its state is committed
                # with this page, so a killed sync resumes at the window not yet read.
                yield PageItem(piece.key, records, finished, number, url, False, piece.values)
                saved, run_params, high = finished, following, None
                base.params.update(following)
                patch = self.paginator.first()
                guard = PageGuard(runtime.spec.http.page_cap - guard.pages)
                number += 1
                continue
            state = {
                **{k: v for k, v in saved.items() if k != "checkpoint"},
                "checkpoint": {
                    "patch": next_patch.to_dict(),
                    "run_params": run_params,
                    "run_headers": run_headers,
                    **({"run_json": run_json} if run_json else {}),
                    "high": high,
                    "page": number + 1,
                    **({"kept": kept} if cap is not None else {}),
                },
            }
            yield PageItem(piece.key, records, state, number, url, False, piece.values)
            patch = next_patch
            number += 1

    def _max_records(self) -> int | None:
        limit = self.stream.max_records
        if limit is None:
            return None
        value = self.runtime.render(limit) if isinstance(limit, str) else limit
        try:
            return max(int(value), 0)
        except (TypeError, ValueError):
            raise StreamError(
                self.runtime.spec.name, self.name, ManifoldError(f"max_records is not a number: {value!r}")
            ) from None

    def _feed_extractor(self, feed: FeedStyle) -> Callable[[Any], list[Any]]:
        get = feed.records

        def extract(body: Any) -> list[Any]:
            found = get(body)
            records = [] if found is None else found if isinstance(found, list) else [found]
            if self._filter is not None:
                records = [r for r in records if self._filter(r)]
            return records

        return extract

    def _feed_start_token(self, feed: FeedStyle, piece: Slice, saved: dict[str, Any]) -> Any:
        """The feed's first token, read before the full run so no change made during it is missed."""
        assert feed.spec.start is not None and feed.start_token is not None
        runtime = self.runtime
        request = runtime.request(
            self.stream,
            state=saved,
            parent=piece.parent,
            partition=piece.partition,
            request=feed.spec.start.request,
        )
        url = runtime.redactor(str(httpx.URL(request.url).copy_merge_params(request.params)))
        try:
            token = feed.start_token(runtime.client.json(runtime.client.send(request)))
        except ManifoldError as exc:
            raise StreamError(runtime.spec.name, self.name, exc, page=0, url=url) from None
        if token is None:
            raise StreamError(
                runtime.spec.name,
                self.name,
                ResponseError(f"the change feed's start token '{feed.spec.start.token}' is missing"),
                page=0,
                url=url,
            )
        return token

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


def _gone(response: httpx.Response, number: int) -> Page:
    return Page(str(response.url), response.status_code, response.headers, None, [], number)


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
