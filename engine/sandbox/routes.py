"""Connectors' sandbox routes: path templates, their protocol and their fixture data."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from engine.errors import Location, SpecError, SpecProblem
from engine.sandbox.protocols import PROTOCOLS, Protocol
from engine.sandbox.store import Key, RouteData, TokenRegistry
from engine.spec.models import ConnectorSpec, SandboxRoute

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class PathTemplate:
    """'/calendar/v3/calendars/{calendarId}/events' -> matches a raw path, returns the decoded values.

    >>> PathTemplate("/v1/customers/{id}/sources").match("/v1/customers/cus%201/sources")
    ('cus 1',)
    """

    def __init__(self, template: str):
        self.template = template
        self.names = _PLACEHOLDER.findall(template)
        pattern, last = [], 0
        for found in _PLACEHOLDER.finditer(template):
            pattern.append(re.escape(template[last : found.start()]) + "([^/]+)")
            last = found.end()
        pattern.append(re.escape(template[last:]))
        self._regex = re.compile("".join(pattern) + r"\Z")

    def match(self, path: str) -> Key | None:
        found = self._regex.match(path)
        return None if found is None else tuple(unquote(v) for v in found.groups())


@dataclass
class BoundRoute:
    spec: SandboxRoute
    template: PathTemplate
    protocol: Protocol
    data: RouteData


@dataclass
class Site:
    """One connector as the sandbox serves it, under /{name}."""

    name: str
    routes: list[BoundRoute]
    require_headers: Mapping[str, str] = field(default_factory=dict)
    tokens: TokenRegistry = field(default_factory=TokenRegistry)

    @property
    def protocol(self) -> Protocol:
        """The protocol whose error shape answers requests no route matches."""
        return self.routes[0].protocol

    def match(self, method: str, path: str) -> tuple[BoundRoute, Key] | BoundRoute | None:
        """(route, placeholder values); only a route when the path matched another method; else None."""
        other = None
        for route in self.routes:
            key = route.template.match(path)
            if key is None:
                continue
            if route.spec.method == method:
                return route, key
            other = other or route
        return other

    def authorised(self, headers: Mapping[str, str]) -> bool:
        """Whether the request carries every required header exactly (`headers` has lower-case names)."""
        return all(headers.get(name.lower()) == value for name, value in self.require_headers.items())

    def route(self, path: str, method: str | None = None) -> BoundRoute:
        for route in self.routes:
            if route.spec.path == path and (method is None or route.spec.method == method.upper()):
                return route
        known = ", ".join(r.spec.path for r in self.routes)
        raise ValueError(f"connector {self.name!r} has no sandbox route {path!r} (routes: {known})")


def build_sites(connectors: list[tuple[ConnectorSpec, Path]]) -> dict[str, Site]:
    """Sites for every connector with a sandbox section; all problems reported at once."""
    sites: dict[str, Site] = {}
    problems: list[SpecProblem] = []
    for spec, file in connectors:
        if spec.sandbox is None:
            continue
        routes: list[BoundRoute] = []
        for index, route in enumerate(spec.sandbox.routes):
            try:
                routes.append(_bind(route, file))
            except ValueError as exc:
                problems.append(SpecProblem(Location(str(file)), str(exc), f"sandbox.routes[{index}]"))
        if not spec.sandbox.routes:
            problems.append(
                SpecProblem(Location(str(file)), "a sandbox needs at least one route", "sandbox.routes")
            )
        # Fewer placeholders first, so '/v1/files/count' wins over '/v1/files/{id}'.
        routes.sort(key=lambda r: len(r.template.names))
        sites[spec.name] = Site(spec.name, routes, dict(spec.sandbox.require_headers))
    if problems:
        raise SpecError(problems)
    return sites


def _bind(route: SandboxRoute, file: Path) -> BoundRoute:
    if not route.path.startswith("/"):
        raise ValueError(f"route path must start with '/': {route.path!r}")
    cls = PROTOCOLS.get(route.protocol)
    if cls is None:
        raise ValueError(f"unknown sandbox protocol {route.protocol!r} (known: {', '.join(PROTOCOLS)})")
    protocol = cls(route.options)
    template = PathTemplate(route.path)
    data = RouteData(
        file.parent / route.fixture,
        len(template.names),
        single=not cls.holds_list,
        prepend=cls.newest_first,
        id_field=str(route.options.get("id_field", "id")),
    )
    return BoundRoute(route, template, protocol, data)
