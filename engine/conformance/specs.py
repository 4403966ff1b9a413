"""Loading the specs a connector names (`api_specs:`), each once per process."""

from __future__ import annotations

import functools
from pathlib import Path

from .api_spec import ApiSpec
from .documents import read_document
from .errors import ApiSpecError
from .formats import FORMATS, detect
from .operations import OperationIndex


@functools.lru_cache(maxsize=64)
def load_api_spec(folder: Path, name: str) -> ApiSpec:
    """`load_api_spec(Path('../shared/specs'), 'stripe/spec3.yaml')`."""
    path = folder / name
    document = read_document(path)
    found = detect(document)
    if found is None:
        formats = ", ".join(f for f, _, _ in FORMATS)
        raise ApiSpecError(f"API spec {name} is in none of the formats the check reads ({formats})")
    _, reader = found
    return reader(document, name, path)


@functools.lru_cache(maxsize=64)
def operation_index(folder: Path, names: tuple[str, ...]) -> OperationIndex:
    """Every operation of the named specs, in one index."""
    return OperationIndex([op for name in names for op in load_api_spec(folder, name).operations])
