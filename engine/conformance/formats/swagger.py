"""Swagger 2.0 (DocuSign eSignature): `basePath`, `in: body` / `in: formData` parameters, and
`responses.<code>.schema`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..api_spec import ApiSpec
from ..operations import Operation, Param
from ..schemas import RefSpace, Schema
from .openapi import METHODS


def claims(document: dict[str, Any]) -> bool:
    return str(document.get("swagger", "")).startswith("2")


def read(document: dict[str, Any], source: str, path: Path) -> ApiSpec:
    space = RefSpace(document)
    base = str(document.get("basePath") or "").rstrip("/")
    spec = ApiSpec(source, f"swagger {document.get('swagger')}")
    for template, item in (document.get("paths") or {}).items():
        item = space.deref(item)
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            params: dict[str, Param] = {}
            body: list[Any] = []
            form: dict[str, Any] = {}
            for entry in [*(item.get("parameters") or []), *(op.get("parameters") or [])]:
                entry = space.deref(entry)
                where = entry.get("in")
                if where == "body":
                    body.append(entry.get("schema"))
                elif where == "formData":
                    form[entry["name"]] = {k: v for k, v in entry.items() if k in ("type", "items")}
                elif "name" in entry:
                    params[entry["name"]] = Param(entry["name"], str(where), entry.get("collectionFormat"))
            if form:
                body.append({"type": "object", "properties": form})
            ok: list[Any] = []
            errors: list[Any] = []
            for code, response in (op.get("responses") or {}).items():
                response = space.deref(response)
                if isinstance(response, dict) and "schema" in response:
                    (ok if str(code).startswith("2") else errors).append(response["schema"])
            spec.operations.append(
                Operation(
                    method=method.upper(),
                    path=template,
                    source=source,
                    name=str(op.get("operationId", "")),
                    prefixes=(base,) if base else (),
                    params=params,
                    body=Schema.of(space, *body) if body else None,
                    response=Schema.of(space, *ok) if ok else None,
                    errors=Schema.of(space, *errors) if errors else None,
                )
            )
    return spec
