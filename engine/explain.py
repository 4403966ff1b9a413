"""`manifold explain`: what a sync will do, for a person, from the spec alone (nothing is sent).

    print(explain(load_connector(path, check_env=False), environ=os.environ, stream="invoices"))

For each stream, parents first: the request (method, URL, parameters, headers and body as their
templates), what repeats it (pages, parent records, partitions), how later runs read only what
changed, and the table and columns the records land in. Env values and secrets are never shown:
only whether each one the connector uses is set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel

from .models import ModelSpec, load_models
from .spec.loader import LoadedConnector
from .spec.models import ConnectorSpec, StreamSpec

_ENV = re.compile(r"env\.([A-Z][A-Z0-9_]*)")
_SECRETS = re.compile(r"secrets\.([a-z][a-z0-9_]*)")
_REFERENCE = "docs/spec-reference.md"


def _order(spec: ConnectorSpec) -> list[str]:
    """Streams with each parent before its children, otherwise in file order."""
    done: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        parent = spec.streams[name].parent
        if parent is not None and parent.stream in spec.streams:
            visit(parent.stream)
        done.append(name)

    for name in spec.streams:
        visit(name)
    return done


def _settings(model: BaseModel | None) -> str:
    """A strategy's settings as `key: value` pairs, defaults left out, plus the first line of its
    docstring: what it does in the reference's words."""
    if model is None:
        return "none"
    values = {k: v for k, v in model.model_dump(by_alias=True).items() if v not in (None, [], {}, "")}
    kind = values.pop("type", None) or ""
    values.pop("post_connect", None)  # steps of the connect flow, not of a sync
    pairs = ", ".join(f"{k}: {v}" for k, v in values.items())
    doc = (type(model).__doc__ or "").strip().splitlines()
    summary = f" — {doc[0].rstrip('.')}" if doc else ""
    anchor = f"{_REFERENCE}#{type(model).__name__.lower()}"
    return f"{kind}{' (' + pairs + ')' if pairs else ''}{summary} [{anchor}]"


def _repeats(stream: StreamSpec) -> list[str]:
    lines = []
    if stream.parent is not None:
        lines.append(f"once per record of stream `{stream.parent.stream}` (its fields as `parent.*`)")
    if stream.partitions is not None:
        lines.append(
            f"once per value of the connection config list `{stream.partitions.config}` (as `partition`)"
        )
    return lines


def _columns(stream: StreamSpec, model: ModelSpec | None) -> list[str]:
    lines = []
    for column, mapping in stream.fields.items():
        if isinstance(mapping, str):
            lines.append(f"{column} <- {mapping}")
            continue
        source = mapping.path or (" | ".join(mapping.coalesce) if mapping.coalesce else None)
        shown = source if source is not None else f"constant {mapping.value!r}"
        transform = f" as {mapping.as_}" if mapping.as_ else ""
        default = f" (default {mapping.default!r})" if mapping.default is not None else ""
        lines.append(f"{column} <- {shown}{transform}{default}")
    if model is not None:
        unmapped = [c for c in model.columns if c not in stream.fields]
        if unmapped:
            lines.append(f"(left null: {', '.join(unmapped)})")
    return lines


def _env_report(spec: ConnectorSpec, environ: Mapping[str, str]) -> list[str]:
    text = spec.model_dump_json()
    names = sorted(set(_ENV.findall(text)) | set(spec.env))
    secrets = sorted(set(_SECRETS.findall(text)) | set(spec.connection_secrets))
    lines = [f"{name}: {'set' if environ.get(name) else 'NOT SET'}" for name in names]
    lines += [f"secrets.{name}: supplied per connection (manifold connect)" for name in secrets]
    return lines


def explain(loaded: LoadedConnector, *, environ: Mapping[str, str], stream: str | None = None) -> str:
    spec = loaded.spec
    models = load_models()
    out = [f"{spec.title} ({spec.name}) — {spec.docs}"]
    if spec.flag:
        out.append(f"  enabled by: {spec.flag}={'on' if environ.get(spec.flag) else 'off'}")
    out.append(f"  base URL: {spec.base_url}")
    out.append(f"  auth: {_settings(spec.auth)}")
    http = spec.http
    out.append(
        f"  http: {http.rate_limit or 'no'} requests/s, {http.concurrency} at once, "
        f"retries {http.retry.max_attempts}x on {', '.join(map(str, http.retry.statuses))}"
    )
    for line in _env_report(spec, environ):
        out.append(f"  {line}")
    out.append(f"  schedule: {spec.schedule or 'manual'}")
    names = _order(spec)
    if stream is not None:
        if stream not in spec.streams:
            raise KeyError(f"{spec.name} has no stream '{stream}' (streams: {', '.join(names) or 'none'})")
        chain, current = [stream], spec.streams[stream]
        while current.parent is not None and current.parent.stream in spec.streams:
            chain.insert(0, current.parent.stream)
            current = spec.streams[current.parent.stream]
        names = chain
    for number, name in enumerate(names, 1):
        s = spec.streams[name]
        out.append("")
        out.append(f"{number}. {name}{' — ' + s.description if s.description else ''}")
        request = s.request
        if request is None:
            out.append("   no request: webhooks and action results fill it")
            out.append(f"   into: table {s.into}")
            continue
        out.append(f"   {request.method} {spec.base_url}{request.path}")
        for key, value in request.params.items():
            out.append(f"     ?{key}={value}")
        for key, value in {**spec.http.headers, **request.headers}.items():
            out.append(f"     {key}: {value}")
        body = request.model_dump(by_alias=True).get("json")
        if isinstance(body, dict) and body:
            out.append(f"     body: {body}")
        for line in _repeats(s):
            out.append(f"   runs {line}")
        out.append(f"   records: {s.records or '(the body)'}")
        out.append(f"   paging: {_settings(s.paging)}")
        out.append(f"   incremental: {_settings(s.incremental)}")
        if s.incremental is None:
            out.append("     every run reads everything (rows merge on the table key)")
        if s.into is None:
            out.append("   lands nowhere: read only for its child streams")
            continue
        model = models.get(s.into)
        key = ", ".join(model.table_key) if model is not None else "?"
        out.append(f"   into: table {s.into} ({s.disposition} on {key})")
        for line in _columns(s, model):
            out.append(f"     {line}")
    if spec.actions and stream is None:
        out.append("")
        out.append(f"actions: {', '.join(spec.actions)} (manifold action {spec.name} NAME --input ...)")
    if spec.webhooks is not None and stream is None:
        out.append(f"webhooks: POST /webhooks/{spec.name}, verified by {_settings(spec.webhooks.verify)}")
    return "\n".join(out)
