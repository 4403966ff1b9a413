"""Spec formats, each a reader from a parsed document to an `ApiSpec`; `detect` picks one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..api_spec import ApiSpec
from . import discovery, graph_nodes, openapi, payload_sample, swagger

Reader = Callable[[Any, str, Path], ApiSpec]

#: (format name, does this document use it, reader); the first that claims a document reads it.
FORMATS: list[tuple[str, Callable[[Any], bool], Reader]] = [
    ("openapi 3", openapi.claims, openapi.read),
    ("swagger 2", swagger.claims, swagger.read),
    ("google discovery", discovery.claims, discovery.read),
    ("meta graph node", graph_nodes.claims, graph_nodes.read),
    ("webhook payload sample", payload_sample.claims, payload_sample.read),
]


def detect(document: Any) -> tuple[str, Reader] | None:
    for name, claims, reader in FORMATS:
        if isinstance(document, dict) and claims(document):
            return name, reader
    return None
