"""Record paths: list selection, and selection among an object's values (Notion properties)."""

from __future__ import annotations

import doctest

import engine.paths
from engine.paths import compile_path

PAGE = {
    "properties": {
        "Status": {"id": "a%3Bc", "type": "status", "status": {"name": "Active"}},
        "Name": {"id": "title", "type": "title", "title": [{"plain_text": "Acme"}]},
    }
}


def test_a_selection_looks_through_an_objects_values() -> None:
    assert compile_path("properties[type=title].title.0.plain_text")(PAGE) == "Acme"
    assert compile_path("properties[type=status].status.name")(PAGE) == "Active"
    assert compile_path("properties[type=people]")(PAGE) is None


def test_a_selection_on_a_list_is_unchanged() -> None:
    body = {"links": [{"rel": "self", "href": "x"}, {"rel": "next", "href": "y"}]}
    assert compile_path("links[rel=next].href")(body) == "y"
    assert compile_path("links[rel=prev].href")(body) is None


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(engine.paths).failed == 0
