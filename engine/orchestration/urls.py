"""Warehouse URLs as Dagster shows them: the kind of warehouse, and never a password."""

from __future__ import annotations

from ..redact import redact_url

__all__ = ["destination_kind", "redact_url"]


def destination_kind(url: str) -> str:
    """`duckdb:///state/w.duckdb` -> `duckdb`; `postgresql://...` -> `postgres`."""
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    return "postgres" if scheme in ("postgres", "postgresql") else scheme
