"""Connectors' sandbox routes: path templates, their protocol and their fixture data."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from engine.errors import Location, SpecError, SpecProblem
from engine.sandbox.idempotency import IdempotencyKeys
from engine.sandbox.protocols import PROTOCOLS, Protocol, WriteProtocol
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
    """A route ready to serve. `data` is its own fixture, or for a write route its collection's;
    `key_names` are the placeholders that key it (the collection's for a write route)."""

    spec: SandboxRoute
    template: PathTemplate
    protocol: Protocol
    data: RouteData
    key_names: tuple[str, ...]

    def data_key(self, path_params: Mapping[str, str]) -> Key:
        return tuple(path_params[name] for name in self.key_names)


@dataclass
class Site:
    """One connector as the sandbox serves it, under /{name}."""

    name: str
    routes: list[BoundRoute]
    require_headers: Mapping[str, str] = field(default_factory=dict)
    tokens: TokenRegistry = field(default_factory=TokenRegistry)
    idempotency: IdempotencyKeys = field(default_factory=IdempotencyKeys)

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
        bound: dict[int, BoundRoute] = {}
        # Reading routes first: write routes store into them.
        for writes in (False, True):
            reads = list(bound.values())
            for index, route in enumerate(spec.sandbox.routes):
                cls = PROTOCOLS.get(route.protocol)
                if (cls is not None and issubclass(cls, WriteProtocol)) != writes:
                    continue
                try:
                    bound[index] = _bind_write(route, file, reads) if writes else _bind(route, file)
                except ValueError as exc:
                    problems.append(SpecProblem(Location(str(file)), str(exc), f"sandbox.routes[{index}]"))
        routes = [bound[index] for index in sorted(bound)]
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
    key_names = tuple(template.names) if cls.keyed_fixture else ()
    data = RouteData(
        file.parent / route.fixture,
        len(key_names),
        single=not cls.holds_list,
        prepend=cls.newest_first,
        id_field=_id_field(route),
    )
    return BoundRoute(route, template, protocol, data, key_names)


def _bind_write(route: SandboxRoute, file: Path, reads: list[BoundRoute]) -> BoundRoute:
    """A write route shares its collection's data, so reads see what it writes."""
    if not route.path.startswith("/"):
        raise ValueError(f"route path must start with '/': {route.path!r}")
    protocol = PROTOCOLS[route.protocol](route.options)
    assert isinstance(protocol, WriteProtocol)
    template = PathTemplate(route.path)
    default = protocol.collection_path(route.path)
    wanted = protocol.options["collection"] or default
    # The GET route at that path; else a read route of another method (Notion lists with POST).
    at_path = [r for r in reads if r.spec.path == wanted]
    target = next((r for r in at_path if r.spec.method == "GET"), at_path[0] if at_path else None)
    if target is None:
        if protocol.options["collection"]:
            raise ValueError(
                f"collection {wanted!r} is not a GET route (or another read route) of this sandbox"
            )
        return _bind(route, file)  # no collection: the route keeps objects in its own fixture
    missing = [name for name in target.template.names if name not in template.names]
    if missing:
        raise ValueError(
            f"collection {wanted!r} is keyed by {{{'}, {'.join(missing)}}}, which {route.path!r} does not have"
        )
    if (file.parent / route.fixture).resolve() != target.data.fixture.resolve():
        raise ValueError(
            f"a {route.protocol} route stores into its collection {wanted!r}: "
            f"give it the same fixture ({target.spec.fixture})"
        )
    if _id_field(route) != _id_field(target.spec):
        raise ValueError(f"id_field {_id_field(route)!r} differs from collection {wanted!r}'s")
    return BoundRoute(route, template, protocol, target.data, tuple(target.template.names))


def _id_field(route: SandboxRoute) -> str:
    return str(route.options.get("id_field", "id"))
