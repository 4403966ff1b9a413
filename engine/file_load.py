"""Loading exported records (CSV or JSON files) through a stream's mapping, as if synced.

    counts = load_file(load_for_run("crm", sandbox=False), "contacts", Path("contacts.csv"), destination)

A JSON file holds a list of records, or an object with the list at the stream's `records` path
(the API's own page shape). A CSV file's header names record paths; empty cells are null. Rows
merge on the model's key like a sync's, under the given connection.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from .destinations import Batch, Destination
from .destinations.base import LoadCounts, StateKey
from .errors import ConfigError
from .mapping import RowMapper, compile_filter
from .models import load_models
from .paths import get_path
from .spec.loader import LoadedConnector


def read_records(path: Path, records_path: str = "") -> list[dict[str, Any]]:
    if not path.is_file():
        raise ConfigError(f"no file {path}")
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [{k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(handle)]
    try:
        body = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not JSON: {exc}") from None
    found = get_path(body, records_path) if isinstance(body, dict) and records_path else body
    if not isinstance(found, list) or not all(isinstance(r, dict) for r in found):
        where = f" at '{records_path}'" if records_path else ""
        raise ConfigError(f"{path}: expected a list of records{where}")
    return found


def load_file(
    loaded: LoadedConnector,
    stream: str,
    path: Path,
    destination: Destination,
    *,
    connection_id: str = "default",
) -> LoadCounts:
    spec = loaded.spec
    if stream not in spec.streams or spec.streams[stream].into is None:
        known = ", ".join(sorted(n for n, s in spec.streams.items() if s.into)) or "none"
        raise ConfigError(f"{spec.name} has no stream '{stream}' that loads a model (streams: {known})")
    stream_spec = spec.streams[stream]
    assert stream_spec.into is not None
    model = load_models()[stream_spec.into]
    records = read_records(path, stream_spec.records)
    keep = compile_filter(stream_spec.filter)
    if keep is not None:
        records = [r for r in records if keep(r)]
    now = datetime.now(UTC)
    rows = RowMapper(model, stream_spec.mapped_fields(), spec.name).to_arrow(records, connection_id, now)
    destination.ensure_table(model.name, model.arrow_schema())
    key = StateKey(spec.name, f"{stream}:file", connection_id)
    return destination.commit(
        [Batch(model.name, rows, model.table_key, stream_spec.disposition)],
        key,
        {"file": path.name, "records": len(records), "loaded_at": now.isoformat()},
    )
