"""YAML parsing that remembers where every value came from (line and column)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass
class Positions:
    """Maps a data path (('streams', 'invoices', 'paging')) to its 1-based (line, column).

    `keys` holds where each mapping key stands, `values` where each value starts.
    """

    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def find(self, path: Path, *, key: bool = False) -> tuple[int, int] | None:
        """The position of `path`, or of its nearest ancestor that has one."""
        table = self.keys if key else self.values
        for end in range(len(path), -1, -1):
            sub = path[:end]
            if sub in table:
                return table[sub]
            if sub in self.values:
                return self.values[sub]
        return None


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _convert(node: yaml.Node, path: Path, positions: Positions, loader: yaml.SafeLoader) -> Any:
    positions.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # YAML merge keys (<<: *anchor)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key = str(key) if not isinstance(key, str) else key
            positions.keys[(*path, key)] = _mark(key_node)
            result[key] = _convert(value_node, (*path, key), positions, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), positions, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def parse_with_positions(text: str) -> tuple[Any, Positions]:
    """Parse YAML text; raises yaml.MarkedYAMLError on syntax errors."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        positions = Positions()
        data = _convert(root, (), positions, loader) if root is not None else None
    finally:
        loader.dispose()
    return data, positions
