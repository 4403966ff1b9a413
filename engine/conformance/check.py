"""Checking one connector against the specs it lists in `api_specs:`."""

from __future__ import annotations

from pathlib import Path

from ..spec.loader import LoadedConnector
from .actions import check_actions
from .checker import Checker
from .findings import Report
from .locate import specs_dir
from .specs import load_api_spec, operation_index
from .streams import StreamChecks
from .webhooks import check_webhooks


def check_connector(loaded: LoadedConnector, folder: Path | None = None) -> Report:
    """Every request, parameter, body field and mapped path of the connector, compared with its
    specs. A connector that lists no specs gets an empty report (see `Report.summary`)."""
    names = loaded.spec.api_specs
    if not names:
        return Report(loaded.spec.name, [])
    root = specs_dir(folder)
    specs = [load_api_spec(root, name) for name in names]
    index = operation_index(root, tuple(names))
    checker = Checker(loaded, index, list(names))
    streams = StreamChecks(checker)
    streams.run()
    check_actions(checker)
    check_webhooks(checker, specs, {name: shape.record for name, shape in streams.shapes.items()})
    return checker.report
