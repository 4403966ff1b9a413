"""Plain functions behind the CLI (and, later, Dagster): find specs, build runs, sync.

A run against the sandbox takes the spec's `sandbox.env` and `sandbox.config` and points
the base URL at the sandbox; everything else is the same code path as a live run.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from .destinations import Destination, open_destination
from .errors import ConfigError, ManifoldError
from .oauth import sandbox_rewrite
from .runtime import Connection, ConnectorRuntime
from .spec.loader import LoadedConnector, is_enabled, load_connector
from .sync import Progress, StreamResult, sync_connector

ROOT = Path(__file__).resolve().parent.parent


def connectors_dir() -> Path:
    return Path(os.environ.get("MANIFOLD_CONNECTORS") or (Path.cwd() / "connectors"))


def resolve_connector(name_or_path: str) -> Path:
    """`stripe` -> connectors/stripe.yaml; a path is taken as it is."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    candidate = connectors_dir() / f"{name_or_path}.yaml"
    if not candidate.exists():
        known = ", ".join(sorted(p.stem for p in connectors_dir().glob("*.yaml")))
        raise ManifoldError(f"no connector '{name_or_path}' in {connectors_dir()}; known: {known}")
    return candidate


def sandbox_environ(loaded: LoadedConnector, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    base = dict(os.environ if environ is None else environ)
    if loaded.spec.sandbox:
        base.update(loaded.spec.sandbox.env)
    if loaded.spec.flag:
        base[loaded.spec.flag] = "true"
    return base


def parse_json_arg(text: str, option: str) -> Any:
    """`--option '{"a": 1}'` or `--option @file.json`."""
    try:
        raw = Path(text[1:]).read_bytes() if text.startswith("@") else text.encode()
        return orjson.loads(raw)
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(f"{option} must be JSON or @file.json: {exc}") from None


def parse_config(text: str | None) -> dict[str, Any]:
    """`--config '{"a": 1}'` or `--config @file.json`."""
    if not text:
        return {}
    value = parse_json_arg(text, "--config")
    if not isinstance(value, dict):
        raise ConfigError("--config must be a JSON object")
    return value


def sandbox_base_url(sandbox_url: str, connector: str, real_base_url: str) -> str:
    """http://127.0.0.1:PORT + /stripe + the real base URL's path (/v1)."""
    return sandbox_url.rstrip("/") + "/" + connector + urlsplit(real_base_url).path.rstrip("/")


#: The sandbox neither limits request rates nor needs time to recover: runs against it go this
#: many times faster than the connector's `http.rate_limit` and back off this much sooner, so the
#: demo and the tests spend their time in the engine. Live runs keep the spec's pacing.
SANDBOX_PACE = 20


def sandbox_paced(loaded: LoadedConnector) -> LoadedConnector:
    http = loaded.spec.http
    retry = http.retry.model_copy(
        update={
            "backoff": http.retry.backoff / SANDBOX_PACE,
            "max_backoff": http.retry.max_backoff / SANDBOX_PACE,
        }
    )
    rate = http.rate_limit * SANDBOX_PACE if http.rate_limit else None
    paced = http.model_copy(update={"rate_limit": rate, "retry": retry})
    return dataclasses.replace(loaded, spec=loaded.spec.model_copy(update={"http": paced}))


def build_runtime(
    loaded: LoadedConnector,
    *,
    connection_id: str = "default",
    config: dict[str, Any] | None = None,
    sandbox_url: str | None = None,
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> ConnectorRuntime:
    """`transport`: the HTTP seam (`manifold record` listens on it)."""
    if sandbox_url:
        loaded = sandbox_paced(loaded)
        env = sandbox_environ(loaded, environ)
        sandbox_config = loaded.spec.sandbox.config if loaded.spec.sandbox else {}
        merged = {**sandbox_config, **(config or {})}
        connection = Connection(connection_id, merged)
        name = loaded.spec.name
        return ConnectorRuntime(
            loaded,
            connection,
            environ=env,
            rewrite_base_url=lambda real: sandbox_base_url(sandbox_url, name, real),
            oauth_rewrite=sandbox_rewrite(sandbox_url, name),
            transport=transport,
        )
    env = dict(os.environ if environ is None else environ)
    if not is_enabled(loaded.spec, env):
        raise ConfigError(f"{loaded.spec.name} is disabled: set {loaded.spec.flag}=true to enable it")
    return ConnectorRuntime(loaded, Connection(connection_id, config or {}), environ=env, transport=transport)


@contextmanager
def running_sandbox(loaded: list[LoadedConnector]) -> Iterator[str]:
    """Start the in-process sandbox for these connectors; yields its URL."""
    from .sandbox import Sandbox

    sandbox = Sandbox([(c.spec, c.path) for c in loaded if c.spec.sandbox])
    url = sandbox.start()
    try:
        yield url
    finally:
        sandbox.stop()


def load_for_run(name_or_path: str, *, sandbox: bool) -> LoadedConnector:
    path = resolve_connector(name_or_path)
    if sandbox:
        probe = load_connector(path, check_env=False)
        return load_connector(path, environ=sandbox_environ(probe))
    return load_connector(path)


def run_sync(
    loaded: LoadedConnector,
    *,
    streams: list[str] | None = None,
    connection_id: str = "default",
    config: dict[str, Any] | None = None,
    full_refresh: bool = False,
    sandbox_url: str | None = None,
    destination: Destination | None = None,
    progress: Progress | None = None,
) -> list[StreamResult]:
    own = destination is None
    dest = destination or open_destination()
    runtime = build_runtime(loaded, connection_id=connection_id, config=config, sandbox_url=sandbox_url)
    try:
        results = sync_connector(runtime, dest, streams=streams, full_refresh=full_refresh, progress=progress)
        _record_outcome(loaded, connection_id, results, stored=runtime.stored is not None)
        return results
    finally:
        runtime.close()
        if own:
            dest.close()


def _record_outcome(
    loaded: LoadedConnector, connection_id: str, results: list[StreamResult], *, stored: bool
) -> None:
    """The connection's last sync or last error, in the control store (never a credential)."""
    from .control import open_control
    from .control.connections import record_sync

    if not results:
        return
    errors = [f"{r.stream}: {r.error}" for r in results if r.error]
    db = open_control()
    try:
        record_sync(db, loaded.spec.name, connection_id, "; ".join(errors) or None, create=not stored)
    finally:
        db.close()
