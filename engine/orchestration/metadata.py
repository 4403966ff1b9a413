"""What a materialization records: the stream run's counts, where it landed, its new state.

Never secrets: counts, the table, the warehouse URL with its password masked, and the
stream's state (the provider's cursors and sync tokens, which page data, not credentials).
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from ..sync import StreamResult


def run_metadata(result: StreamResult, destination_url: str) -> dict[str, dg.MetadataValue[Any]]:
    """Metadata of one stream run; `destination_url` must already be redacted."""
    metadata: dict[str, dg.MetadataValue[Any]] = {
        "connection": dg.MetadataValue.text(result.connection_id),
        "table": dg.MetadataValue.text(result.table or ""),
        "inserted": dg.MetadataValue.int(result.counts.inserted),
        "updated": dg.MetadataValue.int(result.counts.updated),
        "records": dg.MetadataValue.int(result.records),
        "pages": dg.MetadataValue.int(result.pages),
        "requests": dg.MetadataValue.int(result.requests),
        "retries": dg.MetadataValue.int(result.retries),
        "duration_seconds": dg.MetadataValue.float(round(result.seconds, 3)),
        "destination": dg.MetadataValue.text(destination_url),
        "state": dg.MetadataValue.json(result.state),
    }
    if result.error:
        metadata["error"] = dg.MetadataValue.text(result.error)
    return metadata


def one_line(message: str) -> str:
    """The first non-empty line of an error message: the cause, for Dagster's failure banner."""
    return next((line.strip() for line in message.splitlines() if line.strip()), message)
