"""Building the link table: every message value matched against the CRM, then followed to deals.

    rows = build_links(spec, destination)        # dicts in the crm_links model's columns

Reads with `Destination.rows`, so it runs the same on DuckDB and Postgres; a model not synced yet
has no rows and links nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ..destinations import Destination
from ..models import CONNECTION_COLUMN, PROVIDER_COLUMN
from .normalize import NORMALIZERS
from .spec import LinkSpec

LinkKey = tuple[str, str, str, str, str, str]  # provider, connection, source model, id, type, crm id


def _values(value: Any) -> Iterable[str]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def build_links(spec: LinkSpec, destination: Destination) -> list[dict[str, Any]]:
    links: dict[LinkKey, dict[str, Any]] = {}
    for rule in spec.rules:
        target, source = rule.target, rule.source
        index: dict[str, list[str]] = defaultdict(list)
        to_norm, from_norm = NORMALIZERS[target.normalize], NORMALIZERS[source.normalize]
        for row in destination.rows(target.model, [target.id, target.column], dict(target.where)):
            for value in _values(row[target.column]):
                if (norm := to_norm(value)) is not None:
                    index[norm].append(str(row[target.id]))
        if not index:
            continue
        columns = [PROVIDER_COLUMN, CONNECTION_COLUMN, source.id, *source.columns]
        columns += [source.at] if source.at else []
        for row in destination.rows(source.model, list(dict.fromkeys(columns)), dict(source.where)):
            for column in source.columns:
                for value in _values(row[column]):
                    matched = from_norm(value)
                    for crm_id in index.get(matched or "", ()):
                        key = (
                            row[PROVIDER_COLUMN],
                            row[CONNECTION_COLUMN],
                            source.model,
                            str(row[source.id]),
                            rule.link,
                            crm_id,
                        )
                        links.setdefault(key, _link(key, rule.name, matched, row.get(source.at or "")))
    for follow in spec.follow:
        wanted = {link_type: column for link_type, column in follow.by.items()}
        columns = [follow.target.id, *wanted.values()]
        by_record: dict[tuple[str, str], list[str]] = defaultdict(list)
        for row in destination.rows(
            follow.target.model, list(dict.fromkeys(columns)), dict(follow.target.where)
        ):
            for link_type, column in wanted.items():
                if row[column] is not None:
                    by_record[(link_type, str(row[column]))].append(str(row[follow.target.id]))
        for made, link in list(links.items()):
            for found in by_record.get((made[4], made[5]), ()):
                new: LinkKey = (*made[:4], follow.link, found)
                links.setdefault(new, _link(new, follow.name, made[5], link["message_at"]))
    return list(links.values())


def _link(key: LinkKey, rule: str, matched: Any, at: Any) -> dict[str, Any]:
    return {
        PROVIDER_COLUMN: key[0],
        CONNECTION_COLUMN: key[1],
        "source_model": key[2],
        "source_id": key[3],
        "link_type": key[4],
        "crm_id": key[5],
        "rule": rule,
        "matched_value": None if matched is None else str(matched),
        "message_at": at,
    }
