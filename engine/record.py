"""`manifold record`: a real sync's responses saved as the sandbox's fixtures, cleaned and trimmed.

    recording = record(load_connector(path), "invoices", connection_id="acme", pages=2)

The stream (and its parents) is synced against the live provider with the connection's own
credentials, at most `pages` pages per stream, into a throwaway warehouse; every response that a
sandbox read route serves is kept. The records of those responses (the stream's `records` path)
are cleaned by `sandbox.redact` (emails, phone numbers, secrets: engine/redact_records.py) and
replace that route's fixture file, keyed by the route's placeholders where it has some. With
`sandbox_url`, the sandbox stands in for the provider (how the tests exercise it).
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from .destinations.duckdb import DuckDBDestination
from .errors import ConfigError
from .paths import get_path
from .redact_records import RecordRedactor
from .runner import build_runtime
from .sandbox.protocols import PROTOCOLS, WriteProtocol
from .sandbox.routes import PathTemplate
from .spec.loader import LoadedConnector
from .spec.models import SandboxRoute, StreamSpec
from .sync import sync_connector


@dataclass
class Recording:
    fixtures: dict[str, int] = field(default_factory=dict)  # fixture file -> records written
    responses: int = 0
    redacted: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        files = ", ".join(f"{name} ({count} records)" for name, count in self.fixtures.items()) or "none"
        return (
            f"{self.responses} responses recorded; fixtures written: {files}; {self.redacted} values redacted"
        )


class _Listener(httpx.BaseTransport):
    """Passes requests on and keeps (method, URL, status, body) of every answer."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner
        self.exchanges: list[tuple[str, httpx.URL, int, bytes]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        body = response.read()
        self.exchanges.append((request.method, request.url, response.status_code, body))
        return response

    def close(self) -> None:
        self.inner.close()


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _stream_for(route: SandboxRoute, streams: dict[str, StreamSpec]) -> StreamSpec | None:
    """The stream whose request path has the route's shape (its last segments; `{{ }}` and `{x}`
    segments match any)."""
    tail = _segments(route.path)
    for stream in streams.values():
        if stream.request is None or stream.request.method != route.method:
            continue
        mine = _segments(stream.request.path)
        if not mine or len(mine) > len(tail):
            continue
        theirs = tail[len(tail) - len(mine) :]
        if all("{" in a or "{" in b or a == b for a, b in zip(mine, theirs, strict=True)):
            return stream
    return None


def record(
    loaded: LoadedConnector,
    stream: str,
    *,
    connection_id: str = "default",
    pages: int = 3,
    sandbox_url: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Recording:
    spec = loaded.spec
    if spec.sandbox is None:
        raise ConfigError(f"{spec.name} has no sandbox section: there is no fixture to record into")
    if stream not in spec.streams:
        raise ConfigError(f"{spec.name} has no stream '{stream}' (streams: {', '.join(spec.streams)})")
    capped = spec.model_copy(update={"http": spec.http.model_copy(update={"page_cap": pages})})
    listener = _Listener(transport or httpx.HTTPTransport())
    runtime = build_runtime(
        dataclasses.replace(loaded, spec=capped),
        connection_id=connection_id,
        sandbox_url=sandbox_url,
        transport=listener,
    )
    recording = Recording()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            destination = DuckDBDestination(Path(scratch) / "record.duckdb")
            try:
                results = sync_connector(runtime, destination, streams=[stream], full_refresh=True)
            finally:
                destination.close()
        recording.errors = [r.error for r in results if r.error and "page cap" not in r.error]
        runtime.redactor.add(str(v) for v in runtime.context["secrets"].values() if v)
    finally:
        runtime.close()
    redactor = RecordRedactor(spec.sandbox.redact, mask=runtime.redactor)
    routes = [
        (route, PathTemplate(route.path))
        for route in spec.sandbox.routes
        if not issubclass(PROTOCOLS.get(route.protocol, WriteProtocol), WriteProtocol)
    ]
    # The sandbox serves a connector under /{name}: its paths are the provider's after that.
    prefix = f"{urlsplit(sandbox_url).path.rstrip('/')}/{spec.name}" if sandbox_url else ""
    found: dict[int, dict[tuple[str, ...], list[Any]]] = defaultdict(dict)
    for method, url, status, body in listener.exchanges:
        path = url.path.removeprefix(prefix) if prefix and url.path.startswith(prefix + "/") else url.path
        if status >= 400:
            continue
        for index, (route, template) in enumerate(routes):
            key = template.match(path) if route.method == method else None
            if key is None:
                continue
            source = _stream_for(route, spec.streams)
            parsed = orjson.loads(body) if body.strip() else None
            records = get_path(parsed, source.records) if source is not None and source.records else parsed
            records = records if isinstance(records, list) else [] if records is None else [records]
            found[index].setdefault(tuple(key), []).extend(records)
            recording.responses += 1
            break
    for index, by_key in found.items():
        route, _ = routes[index]
        leaves = {k: redactor.records(v) for k, v in by_key.items()}
        value: Any = leaves.get((), [])
        if route.path.count("{"):
            value = {}
            for key, records in leaves.items():
                node = value
                for part in key[:-1]:
                    node = node.setdefault(part, {})
                node[key[-1]] = records
        target = loaded.path.parent / route.fixture
        target.write_bytes(orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")
        recording.fixtures[route.fixture] = sum(len(v) for v in leaves.values())
    recording.redacted = redactor.count
    return recording
