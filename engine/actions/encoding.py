"""Request bodies of actions: JSON, form-encoded with bracket notation (Stripe), raw text.

>>> form_pairs({"amount": 2000, "metadata": {"deal_id": "d1"}, "expand": ["customer"], "confirm": True})
[('amount', '2000'), ('metadata[deal_id]', 'd1'), ('expand[0]', 'customer'), ('confirm', 'true')]
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import orjson

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def without_nulls(value: Any) -> Any:
    """Drop None values (optional inputs not given) at every depth."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value if v is not None]
    return value


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | Decimal) and value == int(value):
        return str(int(value))
    return str(value)


def form_pairs(value: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested mappings and lists as `a[b]` and `a[0]` keys, the way Stripe's libraries send them."""
    pairs: list[tuple[str, str]] = []
    for key, item in value.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        pairs += _pairs(name, item)
    return pairs


def _pairs(name: str, item: Any) -> list[tuple[str, str]]:
    if item is None:
        return []
    if isinstance(item, dict):
        return form_pairs(item, name)
    if isinstance(item, list | tuple):
        out: list[tuple[str, str]] = []
        for index, element in enumerate(item):
            out += _pairs(f"{name}[{index}]", element)
        return out
    return [(name, _scalar(item))]


def encode(encoding: str, body: Any, content_type: str | None = None) -> tuple[bytes | None, str | None]:
    """The body bytes and their Content-Type (None, None without a body)."""
    if body is None:
        return None, None
    if encoding == "form":
        return urlencode(form_pairs(without_nulls(body))).encode(), FORM
    if encoding == "raw":
        return str(body).encode(), content_type or "text/plain; charset=utf-8"
    return orjson.dumps(without_nulls(body), option=orjson.OPT_NON_STR_KEYS), JSON
