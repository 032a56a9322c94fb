"""paperlink.core.model (dataclasses with shared methods) and paperlink.core.patterns (lazy patterns)."""

from __future__ import annotations

import dataclasses
from dataclasses import field

import pytest

from paperlink.core import redaction
from paperlink.core.model import model
from paperlink.core.patterns import LazyPattern


@model
class Point:
    x: int
    y: int = 0
    note: str = field(default="", compare=False, repr=False)
    tags: list[str] = field(default_factory=list)


@model
class Other:
    x: int
    y: int = 0
    note: str = ""
    tags: list[str] = field(default_factory=list)


@model(frozen=True)
class Key:
    name: str
    version: str = ""


@model
class Node:
    name: str
    children: list[Node] = field(default_factory=list)


@model
class Empty:
    pass


def test_equality_is_a_dataclass_s() -> None:
    assert Point(1, 2, tags=["a"]) == Point(1, 2, tags=["a"])
    assert Point(1, 2) != Point(1, 3) and Point(1, 2, tags=["a"]) != Point(1, 2)
    assert Point(1, 2, note="a") == Point(1, 2, note="b")  # compare=False
    assert Point(1, 2) != Other(1, 2)  # another class, even with the same fields
    assert Point(1).__eq__(Other(1)) is NotImplemented
    assert Empty() == Empty()


def test_mutable_models_are_unhashable_and_frozen_ones_hash_their_fields() -> None:
    with pytest.raises(TypeError):
        hash(Point(1))
    assert hash(Key("numpy", "2.0")) == hash(Key("numpy", "2.0"))
    assert {Key("numpy", "2.0"), Key("numpy", "2.0"), Key("scipy")} == {
        Key("numpy", "2.0"),
        Key("scipy"),
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        Key("a").name = "b"  # type: ignore[misc]


def test_repr_lists_the_shown_fields_and_survives_a_cycle() -> None:
    assert repr(Point(1, 2, note="secret", tags=["a"])) == "Point(x=1, y=2, tags=['a'])"
    node = Node("top")
    node.children.append(node)
    assert repr(node) == "Node(name='top', children=[...])"


def test_a_model_is_a_dataclass() -> None:
    point = Point(1, 2)
    assert dataclasses.is_dataclass(point)
    assert [f.name for f in dataclasses.fields(point)] == ["x", "y", "note", "tags"]
    assert dataclasses.replace(point, y=5) == Point(1, 5)
    assert dataclasses.asdict(point) == {"x": 1, "y": 2, "note": "", "tags": []}


def test_a_lazy_pattern_is_compiled_on_first_use_only() -> None:
    pattern = LazyPattern(r"a(b+)", 0)
    assert pattern._compiled is None
    match = pattern.re.search("xabbb")
    assert match is not None and match.group(1) == "bbb"
    assert pattern.re is pattern.re


def test_text_without_secret_words_compiles_none_of_the_secret_forms() -> None:
    # Forgotten first, so that other tests' use does not count; put back after.
    forms = [redaction._VALUE, redaction._LINE_REST, redaction._PRIVATE_KEY, redaction._USERINFO]
    saved = [(p, p._compiled) for p in forms]
    try:
        for p in forms:
            p._compiled = None
        redactor = redaction.Redactor()
        assert redactor.text("python3 make_figure.py --alpha 0.5 figures/fig1.svg") == (
            "python3 make_figure.py --alpha 0.5 figures/fig1.svg"
        )
        assert all(p._compiled is None for p in forms)
        assert redactor.text("api_token = abcdef123456") == "api_token = <redacted>"
        assert redactor.text("https://user:hunter2secret@example.org/x") == "https://example.org/x"
        assert redaction._USERINFO._compiled is not None
    finally:
        for p, compiled in saved:
            p._compiled = compiled
