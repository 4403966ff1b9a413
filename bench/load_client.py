"""A minimal HTTP/1.1 keep-alive load client: C connections, pre-built requests, per-request latency.

    result = run_load("127.0.0.1", 8000, [request_bytes, ...], concurrency=64)
    result.rate, result.percentile(0.99), result.status_counts()

On a 2-core box the client shares the CPUs with the server under test, so it must be cheap: this
one spends 50-75 us of CPU per request (bench/webhook_load.py prints it), far less than httpx's
async client with its connection pool and models would. Each connection is an asyncio.Protocol (on uvloop when
installed) that writes one pre-built request, parses the reply's status line and Content-Length,
then writes the next: one request in flight per connection, no pipelining, like a provider's
sender. Connections take requests from one shared cursor, so the list's order is the send order.
Replies are recorded by request index: `statuses[i]` (0: the connection broke, -1: never sent)
and `duplicates[i]` (the reply body says `"duplicate":true`).

`prime`: a request each connection sends and awaits before the clock starts. Without it the
first request on every connection also waits for the server to accept the connection, which
under load takes up to seconds for the last of a few hundred opened at once: a ramp-up, not the
steady state this measures.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

NOT_SENT = -1
BROKEN = 0
_PRIMING = -1  # the in-flight index while the priming request is out
_HEAD_END = b"\r\n\r\n"
_DUPLICATE = b'"duplicate":true'


@dataclass
class LoadResult:
    seconds: float  # from the first request written to the last reply read
    statuses: list[int]
    duplicates: bytearray
    latencies: list[float]  # seconds per request, by index; 0.0 when there was no reply

    @property
    def count(self) -> int:
        return len(self.statuses)

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    @property
    def answered(self) -> int:
        return sum(1 for s in self.statuses if s > 0)

    def status_counts(self) -> Counter[int]:
        return Counter(self.statuses)

    def percentile(self, q: float) -> float:
        """Latency at quantile q (0..1) over the answered requests, nearest rank."""
        answered = sorted(lat for lat, s in zip(self.latencies, self.statuses, strict=True) if s > 0)
        if not answered:
            return 0.0
        return answered[min(len(answered) - 1, max(0, round(q * len(answered)) - 1))]


class _Shared:
    """The request list, the send cursor and the per-index outcomes all connections write to."""

    def __init__(self, requests: Sequence[bytes]):
        self.requests = requests
        self.cursor = 0
        self.statuses = [NOT_SENT] * len(requests)
        self.duplicates = bytearray(len(requests))
        self.latencies = [0.0] * len(requests)
        self.last_reply = 0.0

    def take(self) -> int | None:
        if self.cursor >= len(self.requests):
            return None
        index = self.cursor
        self.cursor += 1
        return index


class _Connection(asyncio.Protocol):
    def __init__(self, shared: _Shared, closed: asyncio.Future[None], primed: asyncio.Future[None]):
        self.shared = shared
        self.closed = closed
        self.primed = primed
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.index: int | None = None  # the request in flight
        self.sent_at = 0.0
        self.status = 0
        self.body_left = -1  # bytes of the reply body still to read; -1 while reading the head
        self.body_start = 0
        self.close_after = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def prime(self, request: bytes) -> None:
        assert self.transport is not None
        self.index = _PRIMING
        self.transport.write(request)

    def start(self) -> None:
        if not self.closed.done():
            self._send_next()

    def _send_next(self) -> None:
        assert self.transport is not None
        index = self.shared.take() if not self.close_after else None
        self.index = index
        if index is None:
            self.transport.close()
            return
        self.sent_at = time.perf_counter()
        self.transport.write(self.shared.requests[index])

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.index is not None:
            if self.body_left < 0 and not self._read_head():
                return
            if len(self.buffer) - self.body_start < self.body_left:
                return
            self._finish()

    def _read_head(self) -> bool:
        end = self.buffer.find(_HEAD_END)
        if end < 0:
            return False
        head = bytes(self.buffer[:end]).lower()
        self.status = int(head[9:12])
        at = head.find(b"\r\ncontent-length:")
        if at < 0:  # every reply under test has a length; anything else is a broken exchange
            self._break()
            return False
        line_end = head.find(b"\r\n", at + 2)
        self.body_left = int(head[at + 17 : line_end if line_end >= 0 else len(head)])
        self.close_after = b"\r\nconnection: close" in head
        self.body_start = end + 4
        return True

    def _finish(self) -> None:
        assert self.index is not None
        now = time.perf_counter()
        shared, index = self.shared, self.index
        body_end = self.body_start + self.body_left
        if index == _PRIMING:
            del self.buffer[:body_end]
            self.body_left = -1
            self.index = None
            self.primed.set_result(None)
            return
        shared.statuses[index] = self.status
        shared.latencies[index] = now - self.sent_at
        shared.last_reply = now
        if _DUPLICATE in self.buffer[self.body_start : body_end]:
            shared.duplicates[index] = 1
        del self.buffer[:body_end]
        self.body_left = -1
        self._send_next()

    def _break(self) -> None:
        self._lost()
        if self.transport is not None:
            self.transport.close()

    def _lost(self) -> None:
        if self.index is not None and self.index >= 0:
            self.shared.statuses[self.index] = BROKEN
        self.index = None
        if not self.primed.done():
            self.primed.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()
        if not self.closed.done():
            self.closed.set_result(None)


async def _load(
    host: str, port: int, requests: Sequence[bytes], concurrency: int, prime: bytes | None
) -> LoadResult:
    loop = asyncio.get_running_loop()
    shared = _Shared(requests)

    async def connect() -> _Connection:
        closed: asyncio.Future[None] = loop.create_future()
        primed: asyncio.Future[None] = loop.create_future()
        _, protocol = await loop.create_connection(lambda: _Connection(shared, closed, primed), host, port)
        return protocol

    async def slot(first: _Connection) -> None:
        """One connection at a time; a new one if the server closed the last with requests left."""
        connection = first
        while True:
            connection.start()
            await connection.closed
            if shared.cursor >= len(requests):
                return
            connection = await connect()

    connections = await asyncio.gather(*(connect() for _ in range(min(concurrency, len(requests)))))
    if prime is not None:
        for connection in connections:
            connection.prime(prime)
        await asyncio.gather(*(c.primed for c in connections))
    started = time.perf_counter()
    await asyncio.gather(*(slot(c) for c in connections))
    seconds = (shared.last_reply or time.perf_counter()) - started
    return LoadResult(seconds, shared.statuses, shared.duplicates, shared.latencies)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run_load(
    host: str, port: int, requests: Sequence[bytes], *, concurrency: int = 64, prime: bytes | None = None
) -> LoadResult:
    """Send every request once over `concurrency` keep-alive connections; blocks until all answered."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_load(host, port, requests, concurrency, prime))
