"""Google API discovery documents (Calendar, Gmail, Drive, YouTube).

Methods sit under `resources.<name>(.resources.<name>)*.methods.<method>` with `httpMethod`, a
`path` relative to `rootUrl + servicePath` (and a `flatPath` when the path uses `{+name}`
reserved expansion), `parameters` (plus the document-wide ones: `fields`, `key`, `alt`, ...),
and `request`/`response` `$ref`s naming entries of `schemas`. Media uploads add
`mediaUpload.protocols.simple.path` (`/upload/gmail/v1/users/{userId}/messages/send`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..api_spec import ApiSpec
from ..operations import Operation, Param
from ..schemas import RefSpace, Schema


def claims(document: dict[str, Any]) -> bool:
    return "discoveryVersion" in document or document.get("kind") == "discovery#restDescription"


def _methods(resources: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for resource in resources.values():
        yield from (resource.get("methods") or {}).values()
        yield from _methods(resource.get("resources") or {})


def _params(declared: dict[str, Any]) -> dict[str, Param]:
    return {name: Param(name, str(p.get("location", "query"))) for name, p in declared.items()}


def read(document: dict[str, Any], source: str, path: Path) -> ApiSpec:
    space = RefSpace(document, bare_names="schemas")
    service = "/" + str(document.get("servicePath") or "").strip("/")
    common = _params(document.get("parameters") or {})
    spec = ApiSpec(source, "google discovery")
    for method in _methods(document.get("resources") or {}):
        templates = {
            service.rstrip("/") + "/" + method[key].lstrip("/")
            for key in ("path", "flatPath")
            if key in method
        }
        upload = ((method.get("mediaUpload") or {}).get("protocols") or {}).get("simple") or {}
        if "path" in upload:
            templates.add("/" + upload["path"].lstrip("/"))
        params = {**common, **_params(method.get("parameters") or {})}
        if upload:
            params.setdefault("uploadType", Param("uploadType", "query"))
        for template in sorted(templates):
            spec.operations.append(
                Operation(
                    method=str(method.get("httpMethod", "GET")).upper(),
                    path=template,
                    source=source,
                    name=str(method.get("id", "")),
                    params=params,
                    body=Schema.of(space, method["request"]) if "request" in method else None,
                    response=Schema.of(space, method["response"]) if "response" in method else None,
                )
            )
    return spec
