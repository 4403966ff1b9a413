"""Reading a specification file (JSON or YAML) once per process, and fast.

YAML specs are big (Stripe's spec3.yaml is 4 MB and takes seconds even with libyaml), so a
parsed YAML document is also kept as JSON in a user cache folder, keyed by the file's path,
size and modification time: later processes read it in milliseconds. The cache lives outside
the repository (`$XDG_CACHE_HOME/manifold/api-specs`, `MANIFOLD_SPEC_CACHE` to move it);
if it cannot be written, documents are simply parsed each time.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson
import yaml

from .errors import ApiSpecError

_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def cache_dir() -> Path:
    configured = os.environ.get("MANIFOLD_SPEC_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "manifold" / "api-specs"


def _cache_file(path: Path) -> Path:
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:32]
    return cache_dir() / f"{path.stem}-{key}.json"


def _parse_yaml(path: Path) -> Any:
    with path.open("rb") as handle:
        data = yaml.load(handle, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    # Through JSON, so that a cached and a fresh document are the same: string keys ('200'), no dates.
    return orjson.loads(orjson.dumps(data, option=_JSON_OPTIONS, default=str))


def _read_yaml(path: Path) -> Any:
    cached = _cache_file(path)
    try:
        return orjson.loads(cached.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        pass
    data = _parse_yaml(path)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=cached.parent, delete=False) as out:
            out.write(orjson.dumps(data))
        os.replace(out.name, cached)
    except OSError:
        pass  # a read-only home: parse every time
    return data


@functools.lru_cache(maxsize=64)
def read_document(path: Path) -> Any:
    """The parsed file; the same object for the same path for the life of the process."""
    if not path.is_file():
        raise ApiSpecError(f"API spec {path} does not exist")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            return _read_yaml(path)
        return orjson.loads(path.read_bytes())
    except (yaml.YAMLError, orjson.JSONDecodeError) as exc:
        raise ApiSpecError(f"API spec {path} cannot be parsed: {exc}") from exc
